"""``python -m app init | export --out FILE | purge [--days N] | stats``.

One dispatcher turns errors into ``skrynka: error: …`` and ``hint: …`` lines;
exit status 0 only on full success (``init`` warns, but succeeds, when no
analyst key is configured yet: the server then answers 503 until one is).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app import cli
from app.config import Config
from app.errors import AppError
from keys.errors import KeysError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app", description="Skrynka server operations")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create the data directory and database, sweep leftovers")
    ex = sub.add_parser("export", help="write unexported reports to a batch file")
    ex.add_argument("--out", required=True, type=Path, help="batch file to create")
    pu = sub.add_parser("purge", help="delete exported reports older than the retention")
    pu.add_argument("--days", type=int, default=None,
                    help="retention in days (default: SKRYNKA_RETENTION_DAYS)")
    sub.add_parser("stats", help="counts and sizes (never contents)")
    return p


def _say(text: str) -> None:
    print(text)


def _warn(text: str) -> None:
    print(("" if text.startswith("hint:") else "skrynka: warning: ") + text, file=sys.stderr)


def run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    config = Config.from_env()
    if args.command == "init":
        cli.init(config, _say, _warn)
    elif args.command == "export":
        cli.export(config, args.out, _say)
    elif args.command == "purge":
        days = config.retention_days if args.days is None else args.days
        if days < 0:
            raise AppError("--days must not be negative")
        cli.purge(config, days, _say)
    else:
        cli.stats(config, _say)
    return 0


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except (AppError, KeysError) as exc:
        print(f"skrynka: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return int(exc.exit_code)
    except Exception as exc:  # a bug or an unexpected environment problem
        print(f"skrynka: error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("skrynka: error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

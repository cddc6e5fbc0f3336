"""``python -m app init | export --out FILE [--again A-B] | purge [--days N] [--yes] | stats``.

keys.dispatch.run_cli turns errors into ``skrynka: error: …`` and ``hint: …``
lines; exit status 0 only on full success (``init`` warns, but succeeds, when no
analyst key is configured yet: the server then answers 503 until one is).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.errors import ConfigError, ExportError, StorageError, UsageError
from keys.dispatch import exit_codes, run_cli
from keys.errors import FormatError, KeyFileError, OutputError

PROG = "skrynka"
INSTALL_HINT = "run `make setup` (it installs requirements.txt into .venv)"
#: What these commands can raise: the server's errors, and the keys package's
#: errors that reading analysts.pub or writing a batch can meet.
ERRORS = [UsageError, ConfigError, StorageError, ExportError, FormatError, KeyFileError,
          OutputError]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m app", description="Skrynka server operations",
        epilog=exit_codes(ERRORS), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create the data directory, database and export key; sweep "
                   "leftovers")
    ex = sub.add_parser("export", help="write unexported reports to a batch file")
    ex.add_argument("--out", required=True, type=Path, help="batch file to create")
    ex.add_argument("--again", metavar="SEQ-RANGE",
                    help="write the already exported reports A-B (still stored) to a new "
                         "batch, e.g. for a lost stick; marks nothing")
    pu = sub.add_parser("purge", help="delete exported reports older than the retention")
    pu.add_argument("--days", type=int, default=None,
                    help="retention in days (default: SKRYNKA_RETENTION_DAYS)")
    pu.add_argument("--yes", action="store_true",
                    help="also delete reports exported less than SKRYNKA_PURGE_MIN_DAYS ago")
    sub.add_parser("stats",
                   help="counts and sizes (never contents), the export key, the analyst keys")
    return p


def _say(text: str) -> None:
    print(text)


def _warn(text: str) -> None:
    print(("" if text.startswith("hint:") else f"{PROG}: warning: ") + text, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from app import cli, export, purge
    from app.config import Config

    config = Config.from_env()
    if args.command == "init":
        cli.init(config, _say, _warn)
    elif args.command == "export" and args.again is not None:
        export.export_again(config, export.parse_range(args.again), args.out, _say)
    elif args.command == "export":
        export.export(config, args.out, _say)
    elif args.command == "purge":
        days = config.retention_days if args.days is None else args.days
        if days < 0:
            raise UsageError("--days must not be negative")
        purge.purge(config, days, _say, yes=args.yes)
    else:
        cli.stats(config, _say)
    return 0


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    return run_cli(PROG, lambda: run(args), install_hint=INSTALL_HINT)


if __name__ == "__main__":
    sys.exit(main())

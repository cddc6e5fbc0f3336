"""``python -m app [--data DIR] init | export [--out FILE] [--again A-B] | purge [--days N]
[--yes] | stats``.

The data directory is --data DIR (before or after the command), else $SKRYNKA_DATA, else
the checkout's ``data/`` (contract.DataDir.from_env), whatever the working directory.
Every command but ``init`` first checks that it is one ``init`` made
(contract.DataDir.problem) and refuses, creating nothing, when it is not.

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
from contract import DATA_ORDER, DEFAULT_DATA
from keys.dispatch import exit_codes, prog_name, run_cli
from keys.errors import FormatError, KeyFileError, OutputError

PROG = "skrynka"
INSTALL_HINT = "run `make setup` (it installs requirements.txt, hash-checked, into .venv)"
#: What these commands can raise: the server's errors, and the keys package's
#: errors that reading analysts.pub or writing a batch can meet.
ERRORS = [UsageError, ConfigError, StorageError, ExportError, FormatError, KeyFileError,
          OutputError]


DATA_HELP = (f"the data directory, before or after the command; without it $SKRYNKA_DATA, "
             f"else the checkout's data/ ({DEFAULT_DATA})")


def _data_option(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument("--data", metavar="DIR", default=default, help=DATA_HELP)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog_name("skrynka", "python -m app"),
        description=f"Skrynka server operations. The data directory: {DATA_ORDER}.",
        epilog=exit_codes(ERRORS), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_option(p, None)
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=text, description=text)
        _data_option(cmd, argparse.SUPPRESS)  # after the command too; keeps one given before
        return cmd

    command("init", "create the data directory, database and export key; sweep leftovers")
    ex = command("export", "write unexported reports to a new batch file")
    ex.add_argument("--out", type=Path, metavar="FILE",
                    help="batch file to create (default: batch-CHAIN-FIRST-LAST.skb in the "
                         "current directory, from the chain id and the seqs it holds); an "
                         "existing file is never overwritten")
    ex.add_argument("--again", metavar="SEQ-RANGE",
                    help="write the already exported reports A-B (still stored) to a new "
                         "batch, e.g. for a lost stick; marks nothing")
    pu = command("purge", "delete exported reports older than the retention")
    pu.add_argument("--days", type=int, default=None,
                    help="retention in days (default: SKRYNKA_RETENTION_DAYS, else 7)")
    pu.add_argument("--yes", action="store_true",
                    help="also delete reports exported less than SKRYNKA_PURGE_MIN_DAYS ago")
    command("stats", "counts and sizes (never contents), the export key, the analyst keys")
    return p


def _say(text: str) -> None:
    print(text)


def _warn(text: str) -> None:
    print(("" if text.startswith("hint:") else f"{PROG}: warning: ") + text, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from app import cli, export, purge
    from app.config import Config

    if args.command == "purge" and args.days is not None and args.days < 0:
        raise UsageError("--days must not be negative")
    config = Config.from_env(data=args.data)
    if args.command != "init":
        config.check_data()  # before anything opens a file there
        cli.check_schema(config)
    if args.command == "init":
        cli.init(config, _say, _warn)
    elif args.command == "export" and args.again is not None:
        export.export_again(config, export.parse_range(args.again), args.out, _say)
    elif args.command == "export":
        export.export(config, args.out, _say)
    elif args.command == "purge":
        days = config.retention_days if args.days is None else args.days
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

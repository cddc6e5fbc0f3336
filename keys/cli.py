"""``python -m keys``: keygen | pubkey | passwd | decrypt, with one error dispatcher.

Every error the library raises is a :class:`~keys.errors.SkrynkaError`;
:func:`main` hands the command to :func:`keys.dispatch.run_cli`, which turns it
into ``skrynka-keys: error: …`` and ``hint: …`` on stderr and its exit code.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from keys import errors
from keys.dispatch import exit_codes, run_cli
from keys.errors import UsageError
from keys.terminal import clean

PROG = "skrynka-keys"
INSTALL_HINT = ("install the analyst kit's wheels (see its INSTALL.txt), "
                "or `pip install -r requirements-analyst.txt`")
EPILOG = exit_codes([
    errors.UsageError, errors.FormatError, errors.DamagedError, errors.NotRecipient,
    errors.KeyFileError, errors.WrongPassphrase, errors.VerificationError, errors.OutputError,
])


def _passphrase(path: str | None, prompt: str, *, confirm: bool = False) -> bytes:
    """From ``--passphrase-file`` (one trailing newline dropped) or the terminal."""
    if path is not None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read passphrase file {path}: {exc.strerror}") from None
        for end in (b"\r\n", b"\n"):
            if data.endswith(end):
                return data[: -len(end)]
        return data
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the passphrase",
                         hint="run it in a terminal, or give --passphrase-file FILE")
    first = getpass.getpass(prompt).encode("utf-8")
    if confirm and getpass.getpass("Repeat it: ").encode("utf-8") != first:
        raise UsageError("the two passphrases differ", hint="type the same passphrase twice")
    return first


def _nonempty(passphrase: bytes) -> bytes:
    if not passphrase:
        raise UsageError("the passphrase is empty", hint="choose a long passphrase")
    return passphrase


def cmd_keygen(args: argparse.Namespace, out: TextIO) -> int:
    from keys import keyfile
    from keys.pubkey import encode_public

    params = None
    if args.kdf_memory_mib is not None or args.kdf_passes is not None:
        low, high = keyfile.MIN_MEMORY_KIB // 1024, keyfile.MAX_MEMORY_KIB // 1024
        if args.kdf_memory_mib is not None and not low <= args.kdf_memory_mib <= high:
            raise UsageError(f"--kdf-memory-mib must be from {low} to {high}",
                             hint="leave it out for the default (256 MiB)")
        if args.kdf_passes is not None and not 1 <= args.kdf_passes <= keyfile.MAX_TIME:
            raise UsageError(f"--kdf-passes must be from 1 to {keyfile.MAX_TIME}",
                             hint="leave it out to calibrate about 1 s on this machine")
        default = keyfile.KdfParams()
        params = keyfile.KdfParams(
            (args.kdf_memory_mib or default.memory_kib // 1024) * 1024,
            args.kdf_passes or default.time_cost, 1)
    passphrase = _nonempty(_passphrase(args.passphrase_file, "New passphrase: ", confirm=True))
    public = keyfile.generate(args.out, passphrase, params=params)
    out.write(f"{encode_public(public)}\n")
    out.write(clean(f"private key: {args.out} (keep it offline)") + "\n"
              + clean(f"public key: {args.out}.pub (give this line to the server operator)")
              + "\n")
    return 0


def cmd_pubkey(args: argparse.Namespace, out: TextIO) -> int:
    from keys import keyfile
    from keys.pubkey import encode_public

    out.write(encode_public(keyfile.public_from_file(args.keyfile)) + "\n")
    return 0


def cmd_passwd(args: argparse.Namespace, out: TextIO) -> int:
    from keys import keyfile

    old = _passphrase(args.passphrase_file, "Current passphrase: ")
    new = _nonempty(_passphrase(args.new_passphrase_file, "New passphrase: ", confirm=True))
    keyfile.change_passphrase(args.keyfile, old, new)
    out.write(clean(f"passphrase of {args.keyfile} changed") + "\n")
    return 0


class _Bar:
    """A one-line progress bar on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False

    def __call__(self, done: int, total: int, done_bytes: int, total_bytes: int) -> None:
        width = 30
        filled = width * done // total if total else width
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} reports, "
            f"{done_bytes / 1048576:.1f}/{total_bytes / 1048576:.1f} MiB"
        )
        self.stream.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown:
            self.stream.write("\n")


def cmd_decrypt(args: argparse.Namespace, out: TextIO) -> int:
    from keys import keyfile, reader
    from keys.decrypt import decrypt_batches

    for path in args.batch:  # before asking the passphrase: is each file a batch at all?
        if not os.path.isfile(path):
            raise UsageError(f"{path} is not a file", hint="give the batch files to decrypt")
        reader.open_batch(path).close()
    passphrase = _passphrase(args.passphrase_file, clean(f"Passphrase for {args.key}: "))
    key = keyfile.load_private(args.key, passphrase)  # derived once for all batches
    bar = _Bar(sys.stderr) if sys.stderr.isatty() else None
    try:
        summary = decrypt_batches(key, args.batch, args.out, progress=bar)
    finally:
        if bar:
            bar.end()
    for problem in summary.problems:  # names and fields from the batch: cleaned
        sys.stderr.write(clean(f"{PROG}: {problem}") + "\n")
    for note in summary.left_out:
        sys.stderr.write(clean(f"{PROG}: note: {note}") + "\n")
    out.write(clean(summary.line()) + "\n")
    summary.raise_for_problems()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Skrynka analyst keys: make keys, decrypt report batches.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    keygen = add("keygen", "make a new analyst key (asks the passphrase twice)")
    keygen.add_argument("--out", required=True, help="private key file to create (+ .pub)")
    keygen.add_argument("--passphrase-file", help="read the passphrase from FILE")
    keygen.add_argument("--kdf-memory-mib", type=int, help="Argon2id memory (default 256)")
    keygen.add_argument("--kdf-passes", type=int, help="Argon2id passes (default: ~1 s)")
    keygen.set_defaults(func=cmd_keygen)

    pubkey = add("pubkey", "print the public key of a key file (no passphrase needed)")
    pubkey.add_argument("keyfile")
    pubkey.set_defaults(func=cmd_pubkey)

    passwd = add("passwd", "change the passphrase of a key file")
    passwd.add_argument("keyfile")
    passwd.add_argument("--passphrase-file", help="read the current passphrase from FILE")
    passwd.add_argument("--new-passphrase-file", help="read the new passphrase from FILE")
    passwd.set_defaults(func=cmd_passwd)

    decrypt = add("decrypt", "decrypt batches into DIR (report folders, reports.csv/.jsonl, "
                  "citations.csv)")
    decrypt.add_argument("--key", required=True, help="your private key file")
    decrypt.add_argument("--out", required=True, help="output directory (made if missing)")
    decrypt.add_argument("--passphrase-file", help="read the passphrase from FILE")
    decrypt.add_argument("batch", nargs="+", help="batch files, in any order")
    decrypt.set_defaults(func=cmd_decrypt)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code is returned, never raised."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: int(args.func(args, sys.stdout)), install_hint=INSTALL_HINT)

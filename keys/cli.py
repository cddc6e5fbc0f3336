"""``python -m keys``: keygen | pubkey | passwd | decrypt | summary, with one error dispatcher.

Every error the library raises is a :class:`~keys.errors.SkrynkaError`;
:func:`main` hands the command to :func:`keys.dispatch.run_cli`, which turns it
into ``skrynka-keys: error: …`` and ``hint: …`` on stderr and its exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from keys import errors
from keys.dispatch import exit_codes, run_cli
from keys.errors import UsageError
from keys.passphrase import read_passphrase
from keys.terminal import clean

if TYPE_CHECKING:
    from keys.origin import Trust
    from keys.summary import Summary

PROG = "skrynka-keys"
INSTALL_HINT = ("install the analyst kit's wheels (see its INSTALL.txt), "
                "or `pip install -r requirements-analyst.txt`")
EPILOG = exit_codes([
    errors.UsageError, errors.FormatError, errors.DamagedError, errors.NotRecipient,
    errors.KeyFileError, errors.WrongPassphrase, errors.VerificationError, errors.OutputError,
    errors.OriginError, errors.SummaryError,
])


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
    passphrase = read_passphrase(args.passphrase_file, "New passphrase: ", confirm=True,
                                 strong=True)
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

    old = read_passphrase(args.passphrase_file, "Current passphrase: ")
    new = read_passphrase(args.new_passphrase_file, "New passphrase: ", confirm=True,
                          strong=True)
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
    from keys.pubkey import read_recipients
    from keys.recipients import check_pin

    trust = _trust(args)
    for path in args.batch:  # before asking the passphrase: is each file a batch at all?
        if not os.path.isfile(path):
            raise UsageError(f"{path} is not a file", hint="give the batch files to decrypt")
        reader.open_batch(path).close()
    pin = None if args.recipients is None else read_recipients(args.recipients, on_server=False)
    if pin is not None:
        check_pin(keyfile.public_from_file(args.key), pin, args.recipients)
    passphrase = read_passphrase(args.passphrase_file, clean(f"Passphrase for {args.key}: "))
    key = keyfile.load_private(args.key, passphrase)  # derived once for all batches
    bar = _Bar(sys.stderr) if sys.stderr.isatty() else None
    try:
        summary = decrypt_batches(key, args.batch, args.out, progress=bar, trust=trust,
                                  recipients=pin)
    finally:
        if bar:
            bar.end()
    _origin_notes(summary, args.out)
    for problem in summary.problems:  # names and fields from the batch: cleaned
        sys.stderr.write(clean(f"{PROG}: {problem}") + "\n")
    for flag in summary.flags:
        sys.stderr.write(clean(f"{PROG}: WARNING: {flag}") + "\n")
    for note in summary.notes:
        out.write(clean(f"note: {note}") + "\n")
    for note in summary.left_out:
        sys.stderr.write(clean(f"{PROG}: note: {note}") + "\n")
    out.write(clean(summary.line()) + "\n")
    summary.raise_for_problems()
    return 0


def cmd_summary(args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    from keys.findings.build import summarize

    result = summarize(Path(args.dir), None if args.out is None else Path(args.out),
                       lang=args.lang, form_path=None if args.form is None else Path(args.form),
                       official_path=None if args.official is None else Path(args.official))
    if result.form is None:
        sys.stderr.write(f"{PROG}: note: no form file found: labels are ids (see --form)\n")
    for note in result.left_out:
        sys.stderr.write(clean(f"{PROG}: note: {note}") + "\n")
    out.write(clean(result.line()) + "\n")
    out.write(clean(f"open {result.out_dir / 'index.html'}") + "\n")
    return 0


def _trust(args: argparse.Namespace) -> Trust:
    from keys.origin import Trust
    from keys.signature import read_named_signer

    if args.signer and args.trust_first_signer:
        raise UsageError("give either --signer or --trust-first-signer, not both",
                         hint="--signer KEY is the safe one: the key the operator gave you")
    if args.add_signer and args.trust_first_signer:
        raise UsageError("give either --add-signer or --trust-first-signer, not both",
                         hint="--add-signer KEY pins the key the operator gave you for a new "
                              "backend")
    given = [read_named_signer(s) for s in args.signer or ()]
    added = [read_named_signer(s) for s in args.add_signer or ()]
    keys = [k for _, k in given]
    return Trust(signer=keys[0] if keys else None, signers=tuple(keys[1:]),
                 add_signers=tuple(k for _, k in added),
                 names=tuple((k, n) for n, k in given + added if n is not None),
                 trust_first=args.trust_first_signer, allow_unsigned=args.allow_unsigned,
                 new_chain=args.new_chain)


def _origin_notes(summary: Summary, out: str) -> None:
    """The loud lines: signers pinned or added now, a new chain accepted."""
    from keys.signature import describe

    def called(key: bytes) -> str:
        name = summary.names.get(key)
        return f" as {name}" if name else ""

    for key in summary.signers_pinned:
        sys.stderr.write(clean(f"{PROG}: NOTE: {out} now trusts the export key "
                               f"{describe(key)}{called(key)}") + "\n")
    if len(summary.signers_pinned) == 1:
        sys.stderr.write(
            f"{PROG}: NOTE: from now on it refuses batches signed by any other key; compare "
            "this key with the one the operator gave you\n")
    elif summary.signers_pinned:
        sys.stderr.write(
            f"{PROG}: NOTE: from now on it refuses batches signed by any other key, and takes "
            "each server chain only from the key that first signed it; compare these "
            f"{len(summary.signers_pinned)} keys with the ones the operator gave you\n")
    for key in sorted(set(summary.names) - set(summary.signers_pinned + summary.signers_added)):
        sys.stderr.write(clean(f"{PROG}: note: {out} now calls the export key "
                               f"{describe(key)}{called(key)}") + "\n")
    for key in summary.signers_added:
        sys.stderr.write(clean(f"{PROG}: NOTE: {out} now also trusts the export key "
                               f"{describe(key)}{called(key)} (--add-signer)") + "\n"
                         f"{PROG}: NOTE: batches signed by it are accepted from now on; "
                         "compare this key with the one the operator gave you for the new "
                         "backend\n")
    for chain_id in summary.new_chains:
        sys.stderr.write(
            f"{PROG}: NOTE: accepted the new server chain {chain_id.hex()} (--new-chain): the "
            "server was re-initialised or is another server; reports it had not exported "
            "before are lost\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Skrynka analyst keys: make keys, decrypt report batches, count them.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    keygen = add("keygen", "make a new analyst key (asks the passphrase twice; at least 16 "
                 "characters, 10 different ones, not mostly runs: see keys/passphrase.py)")
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
                  "citations.csv); DIR trusts the server's export key (--signer), or one "
                  "per backend (--signer KEY1 --signer KEY2 …)")
    decrypt.add_argument("--key", required=True, help="your private key file")
    decrypt.add_argument("--out", required=True, help="output directory (made if missing)")
    decrypt.add_argument("--passphrase-file", help="read the passphrase from FILE")
    decrypt.add_argument("--signer", metavar="[NAME=]KEY|FILE", action="append",
                         help="the server's export key (skrynka-export1…, from the operator), "
                              "or a file holding it: DIR trusts it and refuses other signers; "
                              "repeat it for several backends (Onionbalance): on DIR's first "
                              "run all are pinned, later each must be one DIR trusts; NAME "
                              "(e.g. b2=skrynka-export1…) names the backend in messages")
    decrypt.add_argument("--add-signer", metavar="[NAME=]KEY|FILE", action="append",
                         help="DIR already trusts other export keys: trust this one too (a "
                              "new backend's, from the operator); printed loudly; repeatable")
    decrypt.add_argument("--trust-first-signer", action="store_true",
                         help="DIR trusts no key yet: trust the key these batches are signed "
                              "with (check the printed fingerprint with the operator!)")
    decrypt.add_argument("--allow-unsigned", action="store_true",
                         help="accept unsigned version 1 batches (an old server's), only while "
                              "DIR trusts no export key; anyone can make such a batch")
    decrypt.add_argument("--new-chain", action="store_true",
                         help="accept a server chain DIR does not know although it knows one "
                              "of the same export key (the server was re-initialised); a "
                              "key's first chain needs no flag")
    decrypt.add_argument("--recipients", metavar="FILE",
                         help="pin the keys reports must be sealed to (skrynka1… lines); "
                              "remembered in DIR, every report sealed to another key is flagged")
    decrypt.add_argument("batch", nargs="+", help="batch files, in any order")
    decrypt.set_defaults(func=cmd_decrypt)

    summary = add("summary", "count the reports of a decrypt output DIR for the published "
                  "report: static HTML pages (index.html) and CSV tables (no passphrase needed)")
    summary.add_argument("dir", metavar="DIR", help="the output directory of decrypt")
    summary.add_argument("--out", metavar="OUTDIR",
                         help="the summary folder (default DIR/summary); a later run updates it")
    summary.add_argument("--lang", choices=("be", "ru", "en"), default="en",
                         help="language of the labels and pages (default en)")
    summary.add_argument("--form", metavar="FORM.toml",
                         help="the form definition for the labels (default: app/forms/ or "
                              "forms/ election.toml beside keys/)")
    summary.add_argument("--official", metavar="FILE.csv",
                         help="an official per-station results table (columns region, "
                              "station, registered, voted, then one per result): shown beside "
                              "the stations where reports allege counting violations")
    summary.set_defaults(func=cmd_summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code is returned, never raised."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: int(args.func(args, sys.stdout)), install_hint=INSTALL_HINT)

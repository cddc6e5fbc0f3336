"""Passphrases: the one strength rule for every Skrynka private key, and reading them.

The rule (``check_strength``), the same for analyst keys (``python -m keys keygen``,
``passwd``) and the organisation's signing key (``python -m onion signing-keygen``):

* at least ``MIN_LENGTH`` (16) characters;
* at least ``MIN_DISTINCT`` (10) different characters;
* not mostly runs: fewer than half of the neighbouring character pairs may be the same
  character twice or two consecutive ones (``aaaa``, ``abcd``, ``4321``).

Five or more random words (diceware) pass easily and are the advice given with a refusal.
The rule is a floor against the worst choices, not an estimate of strength: a known
quotation passes it and is still weak. It applies when a passphrase is chosen; keys made
before it existed still open with their old passphrase.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from keys.errors import UsageError, WeakPassphrase

MIN_LENGTH = 16
MIN_DISTINCT = 10
HINT = ("use five or more random words chosen with dice (diceware, e.g. the EFF word list at "
        "https://www.eff.org/dice), not a phrase from a book or song; write it down and keep "
        "it apart from the key file")


def _runs(text: str) -> int:
    """How many neighbouring pairs are the same or consecutive characters."""
    return sum(1 for a, b in zip(text, text[1:]) if abs(ord(a) - ord(b)) <= 1)


def check_strength(passphrase: bytes) -> None:
    """WeakPassphrase (or UsageError if empty) unless ``passphrase`` meets the rule above."""
    if not passphrase:
        raise UsageError("the passphrase is empty", hint=HINT)
    text = passphrase.decode("utf-8", errors="replace")
    if len(text) < MIN_LENGTH:
        raise WeakPassphrase(
            f"the passphrase is too weak: {len(text)} characters, at least {MIN_LENGTH} "
            "are needed", hint=HINT)
    if len(set(text)) < MIN_DISTINCT:
        raise WeakPassphrase(
            f"the passphrase is too weak: only {len(set(text))} different characters, at "
            f"least {MIN_DISTINCT} are needed", hint=HINT)
    if 2 * _runs(text) >= len(text) - 1:
        raise WeakPassphrase(
            "the passphrase is too weak: it is mostly repeated or consecutive characters "
            "(like 'aaaa' or 'abcd1234')", hint=HINT)


def read_passphrase(path: str | None, prompt: str, *, confirm: bool = False,
                    strong: bool = False) -> bytes:
    """From ``--passphrase-file`` (one trailing newline dropped) or the terminal; a new
    passphrase (``strong``) is checked against the rule before it is asked again."""
    if path is not None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read passphrase file {path}: {exc.strerror}") from None
        for end in (b"\r\n", b"\n"):
            if data.endswith(end):
                data = data[: -len(end)]
                break
        if strong:
            check_strength(data)
        return data
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the passphrase",
                         hint="run it in a terminal, or give --passphrase-file FILE")
    first = getpass.getpass(prompt).encode("utf-8")
    if strong:
        check_strength(first)
    if confirm and getpass.getpass("Repeat it: ").encode("utf-8") != first:
        raise UsageError("the two passphrases differ", hint="type the same passphrase twice")
    return first

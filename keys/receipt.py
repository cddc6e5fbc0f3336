"""Receipt codes: made by the server inside the sealed report, cited by later reports.

A code is 14 random symbols (70 bits) and one check symbol, written in three groups
of five: ``7KQ2M-X9RTB-4HC0J``. Symbols are Crockford's base32 (digits and capital
letters without I, L, O and U). Reading a code forgives what people do when copying
one from paper: any case, spaces and dashes anywhere, ``O`` for ``0``, ``I``/``L``
for ``1``, and Cyrillic letters that look like Latin ones (a voter's keyboard is
often Cyrillic). The check symbol catches about 31 typing mistakes in 32.

The check symbol is no secret: anyone can tell a well-formed code from a mistyped
one, nobody but the analysts can tell an issued code from a made-up one (SPEC 3.4,
SECURITY.md "Receipt codes").
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from nacl.utils import random as random_bytes

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_SYMBOLS = 14
LENGTH = RANDOM_SYMBOLS + 1
GROUP = 5
#: Codes one report may cite (the server's form field and the analyst tool agree).
MAX_CITES = 20
#: What a code may look like in a form or a URL before it is read (generous: spaces).
MAX_INPUT_CHARS = 64
_CHECK_DOMAIN = b"skrynka receipt code v1\n"
_SAME = {"O": "0", "I": "1", "L": "1"}
# Cyrillic capitals that look like Latin ones (Belarusian І, Russian/Belarusian others).
_CYRILLIC = dict(zip("АВЕКМНОРСТХІ", "ABEKMHOPCTXI"))
_DASHES = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00ad_")
_LIST_SEPARATORS = re.compile(r"[,;\n\uff0c\uff1b]+")


def _check(core: str) -> str:
    digest = hashlib.sha256(_CHECK_DOMAIN + core.encode("ascii")).digest()
    return ALPHABET[digest[0] & 31]


def new_code() -> str:
    """A fresh code from the CSPRNG (libsodium's randombytes), in its written form."""
    core = "".join(ALPHABET[b & 31] for b in random_bytes(RANDOM_SYMBOLS))
    return written(core + _check(core))


def written(symbols: str) -> str:
    """The 15 symbols in groups of five joined by dashes."""
    return "-".join(symbols[i : i + GROUP] for i in range(0, len(symbols), GROUP))


def parse(text: str) -> str | None:
    """The code ``text`` spells, in its written form, or None if it is not a code
    (wrong length, a symbol outside the alphabet, or a check symbol that does not fit)."""
    if len(text) > MAX_INPUT_CHARS:
        return None
    symbols: list[str] = []
    for char in unicodedata.normalize("NFKC", text).upper():
        if char.isspace() or char in _DASHES:
            continue
        char = _CYRILLIC.get(char, char)
        symbols.append(_SAME.get(char, char))
    if len(symbols) != LENGTH or any(c not in ALPHABET for c in symbols):
        return None
    core = "".join(symbols[:RANDOM_SYMBOLS])
    return written(core + symbols[-1]) if _check(core) == symbols[-1] else None


def parse_many(text: str) -> list[str] | None:
    """The codes in ``text`` (separated by commas, semicolons or new lines; codes
    written one after another with only spaces between them are read too), each
    once, in order; None if any piece is not a code."""
    codes: list[str] = []
    for piece in _LIST_SEPARATORS.split(text):
        if not piece.strip():
            continue
        code = parse(piece)
        found = [code] if code is not None else _run_of_codes(piece)
        if found is None:
            return None
        codes += [c for c in found if c not in codes]
    return codes


def _run_of_codes(piece: str) -> list[str] | None:
    """Several codes in one piece with only spaces or dashes between them."""
    bare = "".join(c for c in piece if not (c.isspace() or c in _DASHES))
    if not bare or len(bare) % LENGTH or len(bare) > LENGTH * 100:
        return None
    codes = [parse(bare[i : i + LENGTH]) for i in range(0, len(bare), LENGTH)]
    return None if None in codes else [c for c in codes if c is not None]


def is_code(value: object) -> bool:
    """Whether ``value`` is a code in its written form exactly (what reports carry)."""
    return isinstance(value, str) and parse(value) == value

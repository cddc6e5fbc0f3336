"""keys.receipt: the receipt code's form, and reading one as people copy it."""

from __future__ import annotations

import math
import re

import pytest

from keys import receipt
from keys.receipt import is_code, new_code, parse

WRITTEN = re.compile(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}")


def test_new_codes_are_well_formed_random_and_strong_enough() -> None:
    codes = [new_code() for _ in range(2000)]
    assert all(WRITTEN.fullmatch(c) and is_code(c) for c in codes)
    assert len(set(codes)) == len(codes)
    assert receipt.RANDOM_SYMBOLS * math.log2(len(receipt.ALPHABET)) >= 64
    # every symbol of the alphabet turns up at every random position (uniform, roughly)
    for pos in (0, 7, 13):
        index = pos + pos // receipt.GROUP
        assert {c[index] for c in codes} == set(receipt.ALPHABET)


def test_reading_forgives_case_spacing_dashes_and_look_alikes() -> None:
    code = new_code()
    bare = code.replace("-", "")
    assert parse(code) == code
    assert parse(bare.lower()) == code
    assert parse(" " + " ".join(bare[i:i + 3] for i in range(0, 15, 3)) + "\n") == code
    assert parse(code.replace("-", "\u2013")) == code  # an en dash from a word processor
    assert parse(code.replace("0", "O").replace("1", "l")) == code
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in code)
    assert parse(fullwidth) == code  # NFKC
    cyr = str.maketrans("ABEKMHOPCTX", "АВЕКМНОРСТХ")  # Cyrillic letters, Latin looks
    assert parse(code.translate(cyr)) == code
    assert parse(code.translate(cyr).lower()) == code


def test_typing_mistakes_are_caught() -> None:
    missed = 0
    for _ in range(300):
        code = new_code()
        i = 3 if code[3] != "-" else 4
        wrong = receipt.ALPHABET[(receipt.ALPHABET.index(code[i]) + 1) % 32]
        missed += parse(code[:i] + wrong + code[i + 1:]) is not None
    assert missed < 30  # about one in 32 slips through the check symbol


@pytest.mark.parametrize("text", [
    "", "ABCDE", "ABCDE-FGHJK-MNPQ", "ABCDE-FGHJK-MNPQRS", "ABCDE-FGHJK-MNPQU",
    "ABCDE-FGHJK-MNPQ!", "Ж" * 15, "1" * 65, "<script>",
])
def test_not_codes(text: str) -> None:
    assert parse(text) is None
    assert not is_code(text)


def test_is_code_wants_the_written_form() -> None:
    code = new_code()
    assert is_code(code)
    assert not is_code(code.lower()) and not is_code(code.replace("-", ""))
    assert not is_code(None) and not is_code(["x"])


def test_the_check_symbol_is_the_one_spec_3_4_defines() -> None:
    import hashlib

    for code in [new_code() for _ in range(50)] + ["7KQ2M-X9RTB-4HC0J"]:  # SPEC's example
        core = code.replace("-", "")[:14]
        digest = hashlib.sha256(b"skrynka receipt code v1\n" + core.encode("ascii")).digest()
        assert code[-1] == receipt.ALPHABET[digest[0] & 31]
        assert is_code(code)

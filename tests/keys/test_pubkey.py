"""keys.pubkey: skrynka1 text round trips; mistyped, cut and foreign keys are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys import pubkey
from keys.errors import KeyFileError

RAW = bytes(PrivateKey(bytes(range(1, 33))).public_key)
TEXT = pubkey.encode_public(RAW)


def test_round_trip_and_shape() -> None:
    for _ in range(50):
        raw = bytes(PrivateKey.generate().public_key)
        text = pubkey.encode_public(raw)
        assert len(text) == 66 and text.startswith("skrynka1") and text == text.lower()
        assert pubkey.decode_public(text) == raw
        assert pubkey.decode_public(f"  {text.upper()}\n") == raw
    for raw in (bytes(32), b"\xff" * 32):
        assert pubkey.decode_public(pubkey.encode_public(raw)) == raw


def test_bip173_reference_checksum() -> None:
    # BIP 173 valid test string "a12uel5l": the same polymod and constant 1.
    values = [pubkey._CHARSET.index(c) for c in "2uel5l"]
    assert pubkey._polymod(pubkey._hrp_expand("a") + values) == 1


def test_every_single_character_substitution_is_caught() -> None:
    for i in range(8, 66):
        for c in pubkey._CHARSET:
            if c != TEXT[i]:
                with pytest.raises(KeyFileError):
                    pubkey.decode_public(TEXT[:i] + c + TEXT[i + 1 :])


def test_adjacent_swaps_are_caught() -> None:
    for i in range(8, 65):
        if TEXT[i] != TEXT[i + 1]:
            with pytest.raises(KeyFileError):
                pubkey.decode_public(TEXT[:i] + TEXT[i + 1] + TEXT[i] + TEXT[i + 2 :])


@pytest.mark.parametrize("text, words", [
    (TEXT[:-1], "66"), (TEXT[:40], "66"), (TEXT + "q", "66"), (TEXT[:9] + TEXT[10:], "66"),
    ("skrynkb1" + TEXT[8:], "skrynka1"), ("age1" + TEXT[8:], "skrynka1"), (TEXT[8:], "skrynka1"),
    (TEXT[:8] + TEXT[8:].upper(), "case"), (TEXT[:30] + "b" + TEXT[31:], "character"),
    (TEXT[:30] + "O" + TEXT[31:], "case"), ("", "skrynka1"),
])
def test_bad_text_is_refused_with_a_clear_message(text: str, words: str) -> None:
    with pytest.raises(KeyFileError) as caught:
        pubkey.decode_public(text)
    assert words in caught.value.message
    assert caught.value.hint and "skrynka1" in caught.value.hint


def test_nonzero_padding_bits_are_refused() -> None:
    values = [pubkey._CHARSET.index(c) for c in TEXT[8:-6]]
    values[-1] |= 1  # the last 5-bit group carries 4 padding bits
    check = pubkey._polymod(pubkey._hrp_expand("skrynka") + values + [0] * 6) ^ 1
    values += [(check >> 5 * (5 - i)) & 31 for i in range(6)]
    text = "skrynka1" + "".join(pubkey._CHARSET[v] for v in values)
    with pytest.raises(KeyFileError):
        pubkey.decode_public(text)


def test_encode_refuses_wrong_length() -> None:
    with pytest.raises(ValueError):
        pubkey.encode_public(bytes(31))


def test_read_recipients(tmp_path: Path) -> None:
    other = pubkey.encode_public(bytes(PrivateKey.generate().public_key))
    path = tmp_path / "analysts.txt"
    path.write_text(f"# analysts\n\n{TEXT}  # Ala\n{other}\n")
    assert pubkey.read_recipients(path) == [RAW, pubkey.decode_public(other)]


@pytest.mark.parametrize("content, where", [
    (f"{TEXT}\n{TEXT}\n", ":2:"), (f"{TEXT}\n{TEXT[:-1]}\n", ":2:"), ("# nobody\n", "no analyst"),
])
def test_read_recipients_refuses_bad_files(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "analysts.txt"
    path.write_text(content)
    with pytest.raises(KeyFileError) as caught:
        pubkey.read_recipients(path)
    assert where in caught.value.message


def test_read_recipients_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        pubkey.read_recipients(tmp_path / "absent")


def test_fingerprint_is_short_stable_and_the_documented_hash() -> None:
    import hashlib

    assert pubkey.fingerprint(RAW) == hashlib.sha256(RAW).hexdigest()[:16]
    assert pubkey.fingerprint(RAW) == pubkey.fingerprint(pubkey.decode_public(TEXT))
    assert pubkey.fingerprint(bytes(32)) != pubkey.fingerprint(b"\x01" + bytes(31))
    with pytest.raises(ValueError):
        pubkey.fingerprint(b"short")

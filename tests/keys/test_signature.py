"""keys.signature: the export key's text (SPEC 6.2), the signature block (6.1), --signer."""

from __future__ import annotations

from pathlib import Path

import pytest
from nacl.signing import SigningKey

from keys import signature
from keys.errors import KeyFileError

KEY = SigningKey(bytes(range(97, 129)))
RAW = bytes(KEY.verify_key)


def test_text_round_trip_and_rejections() -> None:
    text = signature.encode_signer(RAW)
    assert text.startswith("skrynka-export1") and len(text) == 73
    assert signature.decode_signer(f"  {text.upper()}\n") == RAW
    bad_last = text[:-1] + ("q" if text[-1] != "q" else "p")
    for wrong, why in [(text[:-1], "73 characters"), (bad_last, "checksum"),
                       (text[:20] + text[20:].upper(), "mixes"),
                       ("skrynka1" + text[15:], "skrynka-export1"),
                       (text[:-1] + "b", "73 characters")]:
        with pytest.raises(KeyFileError, match=why):
            signature.decode_signer(wrong)


def test_fingerprint_form() -> None:
    fp = signature.fingerprint(RAW)
    assert len(fp) == 24 and fp.count("-") == 4 and fp == fp.lower()
    assert signature.describe(RAW).endswith(f"(fingerprint {fp})")


def test_sign_verify_binds_prefix_and_hash() -> None:
    prefix, digest = b"SKRYNKAB\x02\x00\x00\x00\x10", bytes(32)
    block = signature.sign(KEY, prefix, digest)
    assert len(block) == 96 and block[:32] == RAW
    assert signature.verify(block, prefix, digest) == RAW
    assert signature.verify(block, b"SKRYNKAB\x01" + prefix[9:], digest) is None
    assert signature.verify(block, prefix, b"\x01" * 32) is None
    assert signature.verify(block[:95], prefix, digest) is None
    assert signature.verify(bytes(32) + block[32:], prefix, digest) is None


def test_read_signer_from_text_or_file(tmp_path: Path) -> None:
    text = signature.encode_signer(RAW)
    assert signature.read_signer(text) == RAW
    server_file = tmp_path / "export.key"  # the operator's key file: its public comment
    server_file.write_text(f"# Skrynka export signing key.\n# public key: {text}\n"
                           "SKRYNKA-EXPORT-KEY-1 AAAA\n")
    assert signature.read_signer(str(server_file)) == RAW
    (tmp_path / "note.txt").write_text(f"# from the operator, in person\n{text}\n")
    assert signature.read_signer(str(tmp_path / "note.txt")) == RAW
    other = signature.encode_signer(bytes(SigningKey.generate().verify_key))
    (tmp_path / "two.txt").write_text(f"{text}\n{other}\n")
    with pytest.raises(KeyFileError, match="exactly one"):
        signature.read_signer(str(tmp_path / "two.txt"))
    with pytest.raises(KeyFileError, match="cannot read"):
        signature.read_signer(str(tmp_path / "missing"))

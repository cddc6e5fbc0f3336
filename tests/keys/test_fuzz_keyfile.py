"""Fuzzing the key file parser: any mutated file ends in a KeysError, never a wrong key."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey

from keys import keyfile
from keys.errors import KeysError

PASS = b"fuzz passphrase"
PRIVATE = PrivateKey.generate()
TEXT = keyfile.render(PRIVATE, PASS, keyfile.KdfParams(65536, 1, 1), "2026-11-24")
ALPHABET = "SKRYNA-EY1 argon2idmtp=0123456789+/=#:\n\r\t\0ÿé" + TEXT[-40:]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = list(TEXT)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["set", "insert", "delete"]))
        pos = draw(st.integers(0, len(text) - 1))
        if op == "set":
            text[pos] = draw(st.sampled_from(ALPHABET))
        elif op == "insert":
            text[pos:pos] = draw(st.text(alphabet=ALPHABET, min_size=1, max_size=12))
        else:
            del text[pos : pos + draw(st.integers(1, 30))]
    return "".join(text)


def _write(tmp: Path, text: str | bytes) -> Path:
    path = tmp / "fuzz.key"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_parser_only_raises_keys_errors(text: str) -> None:
    try:
        parsed = keyfile.parse(text)
    except KeysError:
        return
    parsed.params.check()
    assert len(parsed.salt) == 16 and len(parsed.box) == 72 and len(parsed.public) == 32


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=mutated())
def test_mutated_file_never_gives_another_key(text: str, tmp_path: Path) -> None:
    try:
        key = keyfile.load_private(_write(tmp_path, text), PASS)
    except KeysError:
        return
    assert bytes(key) == bytes(PRIVATE)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=600))
def test_random_files_are_rejected(blob: bytes, tmp_path: Path) -> None:
    path = _write(tmp_path, b"SKRYNKA-KEY-1 " + blob)
    for call in (lambda: keyfile.public_from_file(path), lambda: keyfile.load_private(path, PASS)):
        try:
            call()
        except KeysError:
            continue
        raise AssertionError("random bytes accepted as a key file")

"""Fuzzing the envelope parser: any damaged envelope ends in a KeysError, never in data."""

from __future__ import annotations

import io
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey

from keys import envelope
from keys.errors import KeysError

KEY = PrivateKey.generate()
OTHER = PrivateKey.generate()
RID = os.urandom(16)
SMALL = envelope.seal_bytes(b"report body " * 20, [KEY.public_key, OTHER.public_key],
                            envelope_id=RID, report_id=RID)
TWO = envelope.seal_bytes(os.urandom(70000), [KEY.public_key], envelope_id=RID, report_id=RID)
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, bytes]:
    original = draw(st.sampled_from([SMALL, TWO]))
    blob = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "dup"]))
        pos = draw(st.integers(0, max(0, len(blob) - 1)))
        if op == "flip" and blob:
            blob[pos] ^= draw(st.integers(1, 255))
        elif op == "set" and blob:
            blob[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            blob[pos:pos] = draw(st.binary(min_size=1, max_size=40))
        elif op == "delete":
            del blob[pos : pos + draw(st.integers(1, 200))]
        elif op == "truncate":
            del blob[pos:]
        elif op == "dup":
            end = min(len(blob), pos + draw(st.integers(1, 70000)))
            blob[end:end] = blob[pos:end]
    return original, bytes(blob)


@SETTINGS
@given(mutated())
def test_mutated_envelope_never_opens(case: tuple[bytes, bytes]) -> None:
    original, blob = case
    out = io.BytesIO()
    try:
        envelope.open_stream(io.BytesIO(blob), out, KEY)
    except KeysError:
        return
    assert blob == original, "a changed envelope opened"


@SETTINGS
@given(st.binary(max_size=2000), st.sampled_from([b"", b"SKRYNKAE", b"SKRYNKAE\x01\x01"]))
def test_random_bytes_are_rejected(tail: bytes, prefix: bytes) -> None:
    try:
        envelope.open_bytes(prefix + tail, KEY)
    except KeysError:
        return
    raise AssertionError("random bytes opened as an envelope")


@SETTINGS
@given(st.binary(max_size=400))
def test_header_parser_only_raises_keys_errors(blob: bytes) -> None:
    try:
        header = envelope.read_header(io.BytesIO(b"SKRYNKAE" + blob))
    except KeysError:
        return
    assert 1 <= len(header.recipients) <= 32 and len(header.raw) == 67 + 112 * len(
        header.recipients)

"""keys.envelope: round trips at bucket and chunk boundaries, recipients, tampering, memory."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys import envelope
from keys.errors import DamagedError, FormatError, KeysError, NotRecipient, UnsupportedVersion

A, B, C = (PrivateKey.generate() for _ in range(3))
AB = [bytes(A.public_key), bytes(B.public_key)]
MIB = 1 << 20
HEAD2 = 67 + 2 * 112
SC = envelope.SEALED_CHUNK


def _seal(data: bytes, step: int | None = None, **kw: object) -> bytes:
    out = io.BytesIO()
    rid = os.urandom(16)
    sealer = envelope.Sealer(out, AB, kind=envelope.KIND_REPORT, envelope_id=rid, report_id=rid)
    step = step or max(1, len(data))
    for i in range(0, len(data), step):
        sealer.write(data[i : i + step])
    info = sealer.close()
    assert info.size == len(data) and info.sealed_size == len(out.getvalue())
    assert envelope.open_bytes(out.getvalue(), A)[1] == data  # the sealed bytes themselves
    return out.getvalue()


@pytest.mark.parametrize("size", [
    0, 1, 503, 504, 505, 65527, 65528, 65529, 65535, 65536, 65537, 131064, 131065,
    MIB - 9, MIB - 8, MIB - 1, MIB, MIB + 1,
])
def test_round_trip_at_boundaries(size: int) -> None:
    data = os.urandom(size)
    blob = _seal(data)
    assert len(blob) == envelope.sealed_size(size, 2)
    padded = envelope.padded_size(size)
    assert len(blob) == HEAD2 + padded + 17 * -(-padded // 65536)
    for key in (A, B):
        header, plain = envelope.open_bytes(blob, key)
        assert plain == data and header.kind == envelope.KIND_REPORT


def test_data_ending_in_zeros_and_all_zero_data() -> None:
    for data in (b"\0" * 70000, b"x" + b"\0" * 65535, b"\0", b"ab\0\0"):
        assert envelope.open_bytes(_seal(data), A)[1] == data


@pytest.mark.parametrize("step", [1, 7, 4096, 65528, 65535, 65536, 65537, 131072, 200000])
def test_write_sizes_do_not_change_the_plaintext(step: int) -> None:
    data = os.urandom(140000 if step > 1 else 3000)
    assert envelope.open_bytes(_seal(data, step), B)[1] == data


def test_padded_size_table() -> None:
    table = {0: 512, 504: 512, 505: 1024, 1016: 1024, 1017: 2048, 65528: 65536,
             65529: 131072, MIB - 8: MIB, MIB - 7: 2 * MIB, 3000000: 3 * MIB}
    assert {n: envelope.padded_size(n) for n in table} == table
    for n in range(0, 5 * MIB, 9973):
        p = envelope.padded_size(n)
        assert p % 512 == 0 and p >= n + 8


def test_thirty_two_recipients_each_open() -> None:
    keys = [PrivateKey.generate() for _ in range(32)]
    blob = envelope.seal_bytes(b"report", [k.public_key for k in keys])
    for key in keys:
        assert envelope.open_bytes(blob, key)[1] == b"report"
    with pytest.raises(ValueError):
        envelope.seal_bytes(b"x", [k.public_key for k in keys] + [C.public_key])
    with pytest.raises(ValueError):
        envelope.seal_bytes(b"x", [A.public_key, A.public_key])
    with pytest.raises(ValueError):
        envelope.seal_bytes(b"x", [])


def test_non_recipient() -> None:
    with pytest.raises(NotRecipient) as caught:
        envelope.open_bytes(_seal(b"secret"), C)
    assert caught.value.exit_code == 5 and caught.value.hint


def test_attachment_header() -> None:
    rid, aid = os.urandom(16), os.urandom(16)
    blob = envelope.seal_bytes(b"jpeg", AB, kind=envelope.KIND_ATTACHMENT, envelope_id=aid,
                               report_id=rid)
    header = envelope.read_header(io.BytesIO(blob))
    assert (header.kind, header.envelope_id, header.report_id) == (2, aid, rid)
    assert header.recipients == tuple(AB) and len(header.raw) == HEAD2
    with pytest.raises(ValueError):
        envelope.seal_bytes(b"x", AB, kind=envelope.KIND_REPORT, envelope_id=aid, report_id=rid)


def test_sealer_refuses_use_after_close() -> None:
    rid = os.urandom(16)
    sealer = envelope.Sealer(io.BytesIO(), AB, kind=1, envelope_id=rid, report_id=rid)
    sealer.close()
    with pytest.raises(ValueError):
        sealer.write(b"x")
    with pytest.raises(ValueError):
        sealer.close()


def test_every_flipped_bit_position_is_detected() -> None:
    blob = _seal(b"a short report")
    for offset in range(len(blob)):
        for bit in (0x01, 0x80):
            bad = blob[:offset] + bytes([blob[offset] ^ bit]) + blob[offset + 1 :]
            with pytest.raises(KeysError):
                envelope.open_bytes(bad, A)


def test_every_truncation_and_extension_is_detected() -> None:
    blob = _seal(b"x" * 600)
    for cut in range(len(blob)):
        with pytest.raises((DamagedError, FormatError)):
            envelope.open_bytes(blob[:cut], A)
    for extra in (b"\0", b"\0" * 17, os.urandom(600), os.urandom(SC)):
        with pytest.raises(DamagedError):
            envelope.open_bytes(blob + extra, A)


def _chunks(blob: bytes) -> tuple[bytes, list[bytes]]:
    body = blob[HEAD2:]
    return blob[:HEAD2], [body[i : i + SC] for i in range(0, len(body), SC)]


def test_reorder_drop_duplicate_swap_chunks() -> None:
    data = os.urandom(3 * 65536)  # padded to 4 full chunks
    head, chunks = _chunks(_seal(data))
    assert len(chunks) == 4
    variants = [
        chunks[1:2] + chunks[0:1] + chunks[2:], chunks[:1] + chunks[2:], chunks[:3],
        chunks[:2] + chunks[1:], chunks[:3] + chunks[2:3] + chunks[3:], chunks[1:],
    ]
    for variant in variants:
        with pytest.raises(DamagedError):
            envelope.open_bytes(head + b"".join(variant), A)
    other_head, other = _chunks(_seal(data))
    for i in range(4):
        swapped = chunks[:i] + [other[i]] + chunks[i + 1 :]
        with pytest.raises(DamagedError):
            envelope.open_bytes(head + b"".join(swapped), A)
    with pytest.raises(DamagedError):  # another envelope's header over these chunks
        envelope.open_bytes(other_head + b"".join(chunks), A)


def test_header_field_errors() -> None:
    blob = _seal(b"x")
    cases = [(b"NOTSKRYN" + blob[8:], FormatError),
             (blob[:8] + b"\2" + blob[9:], UnsupportedVersion),
             (blob[:9] + b"\0" + blob[10:], FormatError),
             (blob[:42] + b"\0" + blob[43:], FormatError),
             (blob[:42] + b"\x21" + blob[43:], FormatError), (b"SKRY", FormatError)]
    for bad, cls in cases:
        with pytest.raises(cls):
            envelope.open_bytes(bad, A)


def test_damaged_stream_output_is_only_authenticated_plaintext(tmp_path: Path) -> None:
    data = os.urandom(200000)
    blob = bytearray(_seal(data))
    blob[-5] ^= 1  # last chunk fails
    out = io.BytesIO()
    with pytest.raises(DamagedError):
        envelope.open_stream(io.BytesIO(bytes(blob)), out, A)
    assert data.startswith(out.getvalue()) and len(out.getvalue()) <= 3 * 65536


class _Source:
    """``size`` bytes of a repeating pattern, produced on demand."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = hashlib.shake_256(b"pattern").digest(65536 + 13)

    def __iter__(self):  # type: ignore[no-untyped-def]
        while self.left:
            n = min(self.left, len(self.block))
            self.left -= n
            yield self.block[:n]


class _HashSink:
    def __init__(self) -> None:
        self.hash, self.size = hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return len(data)


def test_constant_memory_for_64_mib(tmp_path: Path) -> None:
    size = 64 * MIB
    path = tmp_path / "big.env"
    rid = os.urandom(16)
    expect = hashlib.sha256()
    for block in _Source(size):
        expect.update(block)
    tracemalloc.start()
    try:
        with open(path, "wb") as fh:
            sealer = envelope.Sealer(fh, AB, kind=1, envelope_id=rid, report_id=rid)
            for block in _Source(size):
                sealer.write(block)
            info = sealer.close()
        _, seal_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        sink = _HashSink()
        with open(path, "rb") as fh:
            _, opened = envelope.open_stream(fh, sink, B)
        _, open_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert expect.digest() == sink.hash.digest()
    assert info.size == opened.size == sink.size == size
    assert info.sealed_size == opened.sealed_size == path.stat().st_size
    assert path.stat().st_size == envelope.sealed_size(size, 2)
    assert seal_peak < 2 * MIB, seal_peak
    assert open_peak < 2 * MIB, open_peak

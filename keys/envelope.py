"""Sealed envelopes: one report or one attachment, sealed to every analyst.

The byte layout is defined in ``keys/SPEC.md`` (section "Envelope"); this module
is its reference implementation. A fresh 32-byte file key per envelope is sealed
with libsodium's sealed box to each recipient's X25519 public key; the padded
plaintext is encrypted with secretstream XChaCha20-Poly1305 in 64 KiB chunks.
Memory use is constant in the size of the body, both ways.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import nacl.bindings as sodium
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.utils import random

from keys.errors import DamagedError, FormatError, NotRecipient, UnsupportedVersion

MAGIC = b"SKRYNKAE"
VERSION = 1
KIND_REPORT = 1
KIND_ATTACHMENT = 2
ID_LEN = 16
KEY_LEN = 32
SEALED_KEY_LEN = 80  # crypto_box_SEALBYTES (48) + 32-byte file key
STANZA_LEN = KEY_LEN + SEALED_KEY_LEN
MAX_RECIPIENTS = 32
CHUNK = 65536
ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES  # 17
SS_HEADER_LEN = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES  # 24
SEALED_CHUNK = CHUNK + ABYTES
TRAILER_LEN = 8
MIN_BUCKET = 512
MIB = 1 << 20
TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_FIXED = struct.Struct(">8sBB16s16sB")  # magic, version, kind, envelope id, report id, n


def padded_size(data_len: int) -> int:
    """Bucketed size of the padded plaintext for ``data_len`` bytes of data.

    The padded plaintext holds the data, zero padding and an 8-byte length
    trailer: at least 512 bytes, a power of two up to 1 MiB, then whole MiB.
    """
    need = data_len + TRAILER_LEN
    if need <= MIN_BUCKET:
        return MIN_BUCKET
    if need <= MIB:
        return 1 << (need - 1).bit_length()
    return -(-need // MIB) * MIB


def sealed_size(data_len: int, recipients: int) -> int:
    """Exact size in bytes of an envelope holding ``data_len`` bytes."""
    padded = padded_size(data_len)
    chunks = -(-padded // CHUNK)
    return _FIXED.size + recipients * STANZA_LEN + SS_HEADER_LEN + padded + chunks * ABYTES


@dataclass(frozen=True)
class SealedInfo:
    """What the sealer knows once an envelope is complete."""

    size: int  # plaintext bytes
    sealed_size: int  # envelope bytes


@dataclass(frozen=True)
class Header:
    kind: int
    envelope_id: bytes
    report_id: bytes
    recipients: tuple[bytes, ...]  # raw X25519 public keys
    sealed_keys: tuple[bytes, ...]
    ss_header: bytes
    raw: bytes  # every header byte, the first chunk's associated data


class _Writer(Protocol):
    def write(self, data: bytes, /) -> object: ...


class Sealer:
    """Seal a stream: ``write()`` plaintext as it arrives, then ``close()``.

    Ciphertext goes to ``out`` as soon as each 64 KiB chunk is full; at most one
    chunk of plaintext is held in memory.
    """

    def __init__(
        self,
        out: _Writer,
        recipients: Sequence[bytes | PublicKey],
        *,
        kind: int,
        envelope_id: bytes,
        report_id: bytes,
    ) -> None:
        keys = [bytes(r) for r in recipients]
        if not 1 <= len(keys) <= MAX_RECIPIENTS or len(set(keys)) != len(keys):
            raise ValueError("need 1 to 32 distinct recipient keys")
        if kind not in (KIND_REPORT, KIND_ATTACHMENT):
            raise ValueError("unknown envelope kind")
        if len(envelope_id) != ID_LEN or len(report_id) != ID_LEN:
            raise ValueError("ids are 16 bytes")
        if kind == KIND_REPORT and envelope_id != report_id:
            raise ValueError("a report envelope's id is its report id")
        file_key = random(KEY_LEN)
        parts = [_FIXED.pack(MAGIC, VERSION, kind, envelope_id, report_id, len(keys))]
        for key in keys:
            if len(key) != KEY_LEN:
                raise ValueError("recipient keys are 32 bytes")
            parts += [key, SealedBox(PublicKey(key)).encrypt(file_key)]
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        ss_header = sodium.crypto_secretstream_xchacha20poly1305_init_push(self._state, file_key)
        parts.append(ss_header)
        header = b"".join(parts)
        self._out = out
        self._ad: bytes | None = header
        self._buf = bytearray()
        self._size = 0
        self._written = len(header)
        self._closed = False
        out.write(header)

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("sealer is closed")
        # At most one chunk stays buffered (``close`` needs the last one); whole chunks
        # are pushed straight from ``data``, copied once, never shifted in the buffer.
        size = len(data)
        self._size += size
        with memoryview(data) as view:
            rest = view.cast("B") if view.ndim != 1 or view.format != "B" else view
            if self._buf:
                room = CHUNK - len(self._buf)
                if len(rest) <= room:
                    self._buf += rest
                    return size
                self._buf += rest[:room]
                rest = rest[room:]
                self._push(bytes(self._buf), TAG_MESSAGE)
                self._buf.clear()
            while len(rest) > CHUNK:
                self._push(bytes(rest[:CHUNK]), TAG_MESSAGE)
                rest = rest[CHUNK:]
            self._buf += rest
        return size

    def _push(self, chunk: bytes, tag: int) -> None:
        sealed = sodium.crypto_secretstream_xchacha20poly1305_push(
            self._state, chunk, self._ad, tag
        )
        self._ad = None
        self._written += len(sealed)
        self._out.write(sealed)

    def close(self) -> SealedInfo:
        """Pad, write the length trailer and the final chunk."""
        if self._closed:
            raise ValueError("sealer is closed")
        self._closed = True
        remaining = padded_size(self._size) - self._size - TRAILER_LEN
        trailer = struct.pack(">Q", self._size)
        # Emit whole chunks of zero padding while more than one chunk remains.
        while len(self._buf) + remaining + TRAILER_LEN > CHUNK:
            fill = CHUNK - len(self._buf)
            self._push(bytes(self._buf) + bytes(fill), TAG_MESSAGE)
            self._buf.clear()
            remaining -= fill
        self._push(bytes(self._buf) + bytes(remaining) + trailer, TAG_FINAL)
        self._buf.clear()
        return SealedInfo(self._size, self._written)


def seal_bytes(
    data: bytes,
    recipients: Sequence[bytes | PublicKey],
    *,
    kind: int = KIND_REPORT,
    envelope_id: bytes | None = None,
    report_id: bytes | None = None,
) -> bytes:
    """Seal a whole byte string (convenience for small reports and tests)."""
    import io

    rid = report_id if report_id is not None else random(ID_LEN)
    eid = envelope_id if envelope_id is not None else (
        rid if kind == KIND_REPORT else random(ID_LEN)
    )
    out = io.BytesIO()
    sealer = Sealer(out, recipients, kind=kind, envelope_id=eid, report_id=rid)
    sealer.write(data)
    sealer.close()
    return out.getvalue()


def _read_exact(inp: BinaryIO, n: int, what: str) -> bytes:
    data = inp.read(n)
    if len(data) != n:
        raise DamagedError(f"envelope is truncated in its {what}")
    return data


def read_header(inp: BinaryIO) -> Header:
    """Read and check an envelope header; the stream is left at the first chunk."""
    fixed = inp.read(_FIXED.size)
    if len(fixed) < 8 or fixed[:8] != MAGIC:
        raise FormatError("not a Skrynka envelope (bad magic)")
    if len(fixed) < _FIXED.size:
        raise DamagedError("envelope is truncated in its header")
    _, version, kind, envelope_id, report_id, count = _FIXED.unpack(fixed)
    if version != VERSION:
        raise UnsupportedVersion(f"envelope version {version} is not supported")
    if kind not in (KIND_REPORT, KIND_ATTACHMENT):
        raise FormatError(f"unknown envelope kind {kind}")
    if kind == KIND_REPORT and envelope_id != report_id:
        raise FormatError("report envelope id differs from its report id")
    if not 1 <= count <= MAX_RECIPIENTS:
        raise FormatError(f"recipient count {count} is out of range")
    stanzas = _read_exact(inp, count * STANZA_LEN, "recipient list")
    starts = range(0, len(stanzas), STANZA_LEN)
    recipients = tuple(stanzas[i : i + KEY_LEN] for i in starts)
    sealed = tuple(stanzas[i + KEY_LEN : i + STANZA_LEN] for i in starts)
    if len(set(recipients)) != count:
        raise FormatError("envelope lists a recipient twice")
    ss_header = _read_exact(inp, SS_HEADER_LEN, "stream header")
    raw = fixed + stanzas + ss_header
    return Header(kind, envelope_id, report_id, recipients, sealed, ss_header, raw)


def unseal_file_key(header: Header, key: PrivateKey) -> bytes:
    """Open this key's stanza; NotRecipient if the key is not listed."""
    mine = bytes(key.public_key)
    try:
        index = header.recipients.index(mine)
    except ValueError:
        raise NotRecipient(
            "this key is not a recipient of the envelope",
            hint="decrypt with the key whose public key was configured on the server",
        ) from None
    try:
        file_key = sodium.crypto_box_seal_open(header.sealed_keys[index], mine, bytes(key))
    except CryptoError:
        raise DamagedError("the envelope's key stanza does not open (altered)") from None
    if len(file_key) != KEY_LEN:
        raise DamagedError("the envelope's file key has a wrong length")
    return file_key


class _ZeroHold:
    """Write authenticated plaintext, holding back trailing zeros (maybe padding)."""

    def __init__(self, out: _Writer) -> None:
        self.out = out
        self.written = 0
        self.zeros = 0

    def feed(self, data: bytes) -> None:
        stripped = data.rstrip(b"\0")
        if stripped:
            if self.zeros:
                self._zeros_out(self.zeros)
                self.zeros = 0
            self._emit(stripped)
        self.zeros += len(data) - len(stripped)

    def _zeros_out(self, n: int) -> None:
        while n:
            step = min(n, CHUNK)
            self._emit(bytes(step))
            n -= step

    def _emit(self, data: bytes) -> None:
        self.out.write(data)
        self.written += len(data)

    def finish(self, data_len: int) -> None:
        if data_len < self.written or data_len > self.written + self.zeros:
            raise DamagedError("envelope padding or length trailer is invalid")
        self._zeros_out(data_len - self.written)


def open_stream(inp: BinaryIO, out: _Writer, key: PrivateKey) -> tuple[Header, SealedInfo]:
    """Decrypt one envelope from ``inp`` (read to EOF) into ``out``.

    Only plaintext of authenticated chunks is written, but the stream is only
    whole once this returns: on any exception the caller MUST discard ``out``.
    """
    header = read_header(inp)
    file_key = unseal_file_key(header, key)
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, header.ss_header, file_key)
    hold = _ZeroHold(out)
    ad: bytes | None = header.raw
    total = len(header.raw)
    current = inp.read(SEALED_CHUNK)
    while True:
        if len(current) <= ABYTES:
            raise DamagedError("envelope is truncated (no final chunk)")
        following = inp.read(SEALED_CHUNK) if len(current) == SEALED_CHUNK else b""
        try:
            plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, current, ad)
        except CryptoError:
            raise DamagedError(
                "envelope chunk failed authentication (altered or reordered)"
            ) from None
        ad = None
        total += len(current)
        is_last = not following
        if tag == TAG_FINAL and not is_last:
            raise DamagedError("envelope has data after its final chunk")
        if tag != (TAG_FINAL if is_last else TAG_MESSAGE):
            raise DamagedError("envelope is truncated (no final chunk)")
        if is_last:
            return header, _finish(hold, plain, total)
        hold.feed(plain)
        current = following


def _finish(hold: _ZeroHold, plain: bytes, total: int) -> SealedInfo:
    if len(plain) < TRAILER_LEN:
        raise DamagedError("envelope final chunk is too short")
    hold.feed(plain[:-TRAILER_LEN])
    padded = hold.written + hold.zeros + TRAILER_LEN
    (data_len,) = struct.unpack(">Q", plain[-TRAILER_LEN:])
    if data_len > padded or padded_size(data_len) != padded:
        raise DamagedError("envelope padding does not match its size bucket")
    hold.finish(data_len)
    return SealedInfo(data_len, total)


def open_bytes(data: bytes, key: PrivateKey) -> tuple[Header, bytes]:
    """Decrypt a whole envelope held in memory."""
    import io

    out = io.BytesIO()
    header, _ = open_stream(io.BytesIO(data), out, key)
    return header, out.getvalue()

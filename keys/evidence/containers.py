"""The structure of JPEG, PNG and WebP files, read without decoding a pixel.

API:

* :func:`sniff` ``(data) -> "jpeg" | "png" | "webp" | None``: the format by its magic bytes.
* :func:`jpeg_segments` ``(data) -> JpegFile``: every marker segment (start, end, marker)
  up to EOI, the entropy-coded data between them, and how many bytes trail EOI.
* :func:`png_chunks` ``(data) -> PngFile`` and :func:`riff_chunks` ``(data) -> RiffFile``:
  the chunks in order, and the bytes after the last one.

Written for hostile input: every step moves forward, the number of segments or chunks
is bounded (:data:`MAX_PARTS`), a length that runs past the end is an
:class:`ImageError` (never an IndexError, never a loop); nothing is decompressed.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Optional

MAX_PARTS = 20_000
MAX_GARBAGE = 1 << 16
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# JPEG markers that stand alone (no length field).
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
SOS, EOI, SOI = 0xDA, 0xD9, 0xD8
# 0xFF then a byte that ends a scan: not 0x00 (stuffing), not RST0-7, not 0xFF (fill:
# the match starts at the last 0xFF of a run).
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class ImageError(ValueError):
    """Not an image of a format we understand, or a damaged one."""


@dataclass(frozen=True)
class Segment:
    """One JPEG marker segment: ``data[start:end]`` is the whole of it (marker included);
    ``payload`` is what follows the length field. For SOS, ``end`` also covers the
    entropy-coded data after it."""

    marker: int
    start: int
    end: int
    payload: bytes

    def startswith(self, prefix: bytes | tuple[bytes, ...]) -> bool:
        return self.payload.startswith(prefix)


@dataclass
class JpegFile:
    segments: list[Segment] = field(default_factory=list)
    end: int = 0  # offset just past EOI
    trailing: int = 0  # bytes after EOI (motion photos, second images, junk)
    garbage: int = 0  # stray bytes between segments (skipped, as decoders do)


@dataclass(frozen=True)
class Chunk:
    """One PNG or RIFF chunk: its type, its data, and ``raw`` (the whole chunk as stored)."""

    kind: bytes
    data: bytes
    raw: bytes


@dataclass
class PngFile:
    chunks: list[Chunk] = field(default_factory=list)
    trailing: int = 0


@dataclass
class RiffFile:
    chunks: list[Chunk] = field(default_factory=list)
    trailing: int = 0


def sniff(data: bytes) -> Optional[str]:
    """``"jpeg"``, ``"png"`` or ``"webp"`` by the first bytes, else None."""
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if data.startswith(PNG_MAGIC):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def jpeg_segments(data: bytes) -> JpegFile:
    """The segments of a JPEG file, SOI to EOI; ImageError if it is not one or is cut."""
    if not data.startswith(JPEG_MAGIC):
        raise ImageError("not a JPEG file")
    out = JpegFile(segments=[Segment(SOI, 0, 2, b"")])
    pos = 2
    while len(out.segments) < MAX_PARTS:
        before, pos = pos, _next_marker(data, pos)
        if data[before] != 0xFF:
            out.garbage += pos - before
        marker = data[pos + 1]
        if marker == EOI:
            out.segments.append(Segment(EOI, pos, pos + 2, b""))
            out.end, out.trailing = pos + 2, len(data) - pos - 2
            return out
        if marker in _STANDALONE:
            out.segments.append(Segment(marker, pos, pos + 2, b""))
            pos += 2
            continue
        if pos + 4 > len(data):
            raise ImageError("JPEG cut inside a segment header")
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise ImageError(f"JPEG segment 0x{marker:02X} at {pos} has a bad length")
        if marker == SOS:
            end = _entropy_end(data, end)
        out.segments.append(Segment(marker, pos, end, data[pos + 4 : pos + 2 + length]))
        pos = end
    raise ImageError("JPEG has too many segments")


def _next_marker(data: bytes, pos: int) -> int:
    """The offset of the next marker at ``pos`` (0xFF fill bytes skipped; like libjpeg,
    up to :data:`MAX_GARBAGE` stray bytes before it too: a scrubbed copy drops them)."""
    if pos < len(data) and data[pos] != 0xFF:
        found = data.find(b"\xff", pos, pos + MAX_GARBAGE)
        pos = found if found >= 0 else len(data)
    if pos >= len(data):
        raise ImageError(f"JPEG has no marker at {pos} (truncated or damaged)")
    while pos + 1 < len(data) and data[pos + 1] == 0xFF:
        pos += 1
    if pos + 1 >= len(data):
        raise ImageError("JPEG cut before EOI")
    return pos


def _entropy_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data starting at ``pos`` ends: the next marker that is
    neither a stuffed 0xFF00 nor a restart marker (those belong to the scan); one
    regular-expression scan, however many stuffed bytes a hostile file holds."""
    found = _SCAN_END.search(data, pos)
    if found is None:
        raise ImageError("JPEG cut inside image data (no EOI)")
    return found.start()


def png_chunks(data: bytes) -> PngFile:
    """The chunks of a PNG file up to IEND; ImageError if it is not one or is cut."""
    if not data.startswith(PNG_MAGIC):
        raise ImageError("not a PNG file")
    out, pos = PngFile(), len(PNG_MAGIC)
    while len(out.chunks) < MAX_PARTS:
        if pos + 12 > len(data):
            raise ImageError("PNG cut before IEND")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data) or not kind.isalpha():
            raise ImageError(f"PNG chunk at {pos} has a bad length or type")
        out.chunks.append(Chunk(kind, data[pos + 8 : pos + 8 + length], data[pos:end]))
        pos = end
        if kind == b"IEND":
            out.trailing = len(data) - pos
            return out
    raise ImageError("PNG has too many chunks")


def riff_chunks(data: bytes) -> RiffFile:
    """The chunks of a WebP (RIFF) file; ImageError if it is not one or is cut."""
    if sniff(data) != "webp":
        raise ImageError("not a WebP file")
    size = struct.unpack("<I", data[4:8])[0]
    stop = 8 + size
    if stop > len(data) or size < 4:
        raise ImageError("WebP cut (RIFF size runs past the end)")
    out, pos = RiffFile(trailing=len(data) - stop), 12
    while pos < stop:
        if len(out.chunks) >= MAX_PARTS or pos + 8 > stop:
            raise ImageError("WebP has a damaged chunk list")
        kind, length = struct.unpack("<4sI", data[pos : pos + 8])
        end = pos + 8 + length + (length & 1)
        if end > stop:
            raise ImageError(f"WebP chunk at {pos} runs past the end")
        out.chunks.append(Chunk(kind, data[pos + 8 : pos + 8 + length], data[pos:end]))
        pos = end
    return out

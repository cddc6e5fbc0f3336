"""A copy of an image that is safe(r) to share: metadata removed, pixels untouched.

API:

* :func:`scrub` ``(data) -> bytes``: the image with its metadata removed LOSSLESSLY:
  the compressed image data is copied byte for byte, nothing is re-encoded. Raises
  :class:`~keys.evidence.containers.ImageError` for anything but a well-formed JPEG,
  PNG or WebP.
* :func:`verify_clean` ``(data) -> list[str]``: what is still identifying in ``data``
  (empty: clean), checked on the bytes, structure by structure; used by the tests and
  before any copy is written.
* :func:`process_report_folder` ``(folder, out) -> list[AttachmentEvidence]``: every
  attachment of one decrypted report folder (``report.json`` and its files): SHA-256 of
  the original as it arrived (never modified), and for images the metadata facts, a
  perceptual hash and a scrubbed copy written to ``out/<name>`` (new file, mode 0600,
  ``O_EXCL``; an existing file is an OutputError).

What is kept. JPEG: the frame, tables, scans and restart markers; a JFIF APP0 rebuilt
without its thumbnail; the ICC colour profile (APP2 ``ICC_PROFILE``: colours would
be wrong without it; it describes a colour space, not a person, though a camera's
own profile can name the camera model); a 12-byte Adobe APP14 (needed to decode
CMYK/YCCK). Everything else goes: EXIF (APP1, with its thumbnail), XMP, IPTC (APP13),
MPF (APP2) and other APPn, C2PA (APP11), comments and all bytes after EOI (motion-photo
videos, second images). PNG: the critical chunks and those that change how it renders
(tRNS, gAMA, cHRM, sRGB, iCCP, sBIT, cICP, mDCV, cLLI, bKGD, APNG's acTL/fcTL/fdAT);
text, eXIf, tIME, caBX, pHYs and every other chunk go. WebP: EXIF, XMP and C2PA chunks go
and their VP8X flags are cleared. EXIF orientation is dropped, not applied: a phone
photo may show turned (``ImageFacts.orientation`` says by how much). No scrubbing
removes what is IN the picture (faces, a reflection, a screen, the room) or the
sensor's noise pattern, which can match a photo to the camera that took it.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from keys.evidence import containers as c
from keys.evidence import metadata, phash
from keys.output import REPORT_FILE, attachment_names, write_new

ICC_JPEG = b"ICC_PROFILE\x00"
_JPEG_KEEP = {*range(0xC0, 0xD0), 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xD8, 0xD9,
              0x01, *range(0xD0, 0xD8)}
PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP",
            b"sBIT", b"cICP", b"mDCV", b"cLLI", b"bKGD", b"acTL", b"fcTL", b"fdAT"}
WEBP_KEEP = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}
_VP8X_META = 0x08 | 0x04  # EXIF and XMP flags
# Byte strings that must not appear in the kept non-pixel parts of a clean copy.
_TELLTALES = (b"Exif\x00", b"GPS", b"xmpmeta", b"xpacket", b"8BIM", b"c2pa", b"jumb",
              b"DateTime", b"ProofMode")


def scrub(data: bytes) -> bytes:
    """``data`` without metadata (see the module docstring); ImageError if unsupported."""
    kind = c.sniff(data)
    if kind == "jpeg":
        return _scrub_jpeg(data)
    if kind == "png":
        png = c.png_chunks(data)
        return c.PNG_MAGIC + b"".join(ch.raw for ch in png.chunks if ch.kind in PNG_KEEP)
    if kind == "webp":
        return _scrub_webp(data)
    raise c.ImageError("not a JPEG, PNG or WebP image")


def _scrub_jpeg(data: bytes) -> bytes:
    out: list[bytes] = []
    for seg in c.jpeg_segments(data).segments:
        if seg.marker in _JPEG_KEEP:
            out.append(data[seg.start : seg.end])
        elif seg.marker == 0xE0 and seg.startswith(b"JFIF\x00") and len(seg.payload) >= 12:
            out.append(_app(0xE0, seg.payload[:12] + b"\x00\x00"))  # no thumbnail
        elif seg.marker == 0xE2 and seg.startswith(ICC_JPEG):
            out.append(data[seg.start : seg.end])
        elif seg.marker == 0xEE and seg.startswith(b"Adobe") and len(seg.payload) >= 12:
            out.append(_app(0xEE, seg.payload[:12]))
    return b"".join(out)


def _app(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _scrub_webp(data: bytes) -> bytes:
    kept = []
    for chunk in c.riff_chunks(data).chunks:
        if chunk.kind == b"VP8X" and len(chunk.data) >= 1:
            flags = bytes([chunk.data[0] & ~_VP8X_META & 0xFF])
            kept.append(chunk.raw[:8] + flags + chunk.raw[9:])
        elif chunk.kind in WEBP_KEEP:
            kept.append(chunk.raw)
    body = b"WEBP" + b"".join(kept)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def verify_clean(data: bytes) -> list[str]:
    """What in ``data`` can still identify (empty list: clean). Checks the structure
    (only the kept segments/chunks, nothing after the end) and, independently, that
    :func:`keys.evidence.metadata.inspect` finds nothing identifying."""
    kind = c.sniff(data)
    try:
        if kind == "jpeg":
            problems = _jpeg_problems(c.jpeg_segments(data))
        elif kind == "png":
            problems = _png_problems(c.png_chunks(data))
        elif kind == "webp":
            problems = _webp_problems(c.riff_chunks(data))
        else:
            return ["not a JPEG, PNG or WebP image"]
    except c.ImageError as exc:
        return [f"damaged: {exc}"]
    facts = metadata.inspect(data)
    problems += [f"metadata: {name}" for name in facts.identifying]
    return problems


def _telltales(where: str, payload: bytes) -> list[str]:
    return [f"{where} contains {t.decode()!r}" for t in _TELLTALES if t in payload]


def _jpeg_problems(jpeg: c.JpegFile) -> list[str]:
    problems = [f"{jpeg.trailing} bytes after EOI"] if jpeg.trailing else []
    if jpeg.garbage:
        problems.append(f"{jpeg.garbage} stray bytes between segments")
    for seg in jpeg.segments:
        where = f"segment 0x{seg.marker:02X} at {seg.start}"
        if seg.marker == 0xE2 and seg.startswith(ICC_JPEG):
            continue  # an ICC profile: kept for colour; its binary tags are not text
        if seg.marker == 0xE0:
            if not (seg.startswith(b"JFIF\x00") and len(seg.payload) == 14
                    and seg.payload[12:14] == b"\x00\x00"):
                problems.append(f"{where}: APP0 other than a JFIF header without thumbnail")
        elif seg.marker == 0xEE:
            if not (seg.startswith(b"Adobe") and len(seg.payload) == 12):
                problems.append(f"{where}: APP14 other than the 12-byte Adobe header")
        elif seg.marker not in _JPEG_KEEP:
            problems.append(f"{where}: metadata segment (APPn or COM)")
        if 0xE0 <= seg.marker <= 0xEF or seg.marker == 0xFE:  # tables are binary: not there
            problems += _telltales(where, seg.payload)
    return problems


def _png_problems(png: c.PngFile) -> list[str]:
    problems = [f"{png.trailing} bytes after IEND"] if png.trailing else []
    for chunk in png.chunks:
        if chunk.kind not in PNG_KEEP:
            problems.append(f"chunk {chunk.kind.decode('latin-1')!r} is not needed to render")
    return problems


def _webp_problems(riff: c.RiffFile) -> list[str]:
    problems = [f"{riff.trailing} bytes after the RIFF data"] if riff.trailing else []
    for chunk in riff.chunks:
        name = chunk.kind.decode("latin-1")
        if chunk.kind not in WEBP_KEEP:
            problems.append(f"chunk {name!r} is not needed to render")
        elif chunk.kind == b"VP8X" and chunk.data[:1] and chunk.data[0] & _VP8X_META:
            problems.append("VP8X announces EXIF or XMP")
    return problems


# -- one report folder -----------------------------------------------------------------


@dataclass
class AttachmentEvidence:
    """One attachment of a report: what it is and what was done with it."""

    name: str
    attachment_id: str
    media_type: str  # as the voter's browser claimed; ``kind`` is from the bytes
    kind: str  # "image", "other", "missing", or "damaged" (an image we could not scrub)
    sha256: Optional[str] = None  # of the original, as decrypted
    size: int = 0
    facts: Optional[metadata.ImageFacts] = None
    phash: Optional[int] = None
    scrubbed_name: Optional[str] = None
    scrubbed_sha256: Optional[str] = None
    problems: list[str] = field(default_factory=list)

    @property
    def gps(self) -> bool:
        """Whether the ORIGINAL carries a location (the scrubbed copy never does)."""
        return bool(self.facts and self.facts.has_gps)


def read_report(folder: Path) -> dict[str, Any]:
    """A report folder's report.json; ValueError if it is not a report."""
    try:
        report = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{folder / REPORT_FILE}: cannot read the report ({exc})") from None
    if not isinstance(report, dict):
        raise ValueError(f"{folder / REPORT_FILE}: not a report")
    return report


def attachment_files(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(file name in the report folder, attachment entry) for each attachment, in order."""
    listed = report.get("attachments")
    metas = [a if isinstance(a, dict) else {} for a in listed] if isinstance(listed, list) else []
    return list(zip(attachment_names({**report, "attachments": metas}), metas))


def read_original(path: Path) -> tuple[Optional[bytes], str, int]:
    """(the bytes if it looks like an image we handle, else None; SHA-256; size) of an
    attachment, read without following a symlink; other files are hashed in pieces."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        head = fh.read(16)
        if c.sniff(head) is not None:
            data = head + fh.read()
            return data, metadata.sha256(data), len(data)
        digest, size = hashlib.sha256(head), len(head)
        while piece := fh.read(1 << 20):
            digest.update(piece)
            size += len(piece)
        return None, digest.hexdigest(), size


def process_report_folder(folder: Path, out: Path, *, sync: bool = True
                          ) -> list[AttachmentEvidence]:
    """Evidence for each attachment of ``folder``; scrubbed image copies into ``out``
    (created 0700 if missing; give each report a folder of its own, the copies keep the
    attachments' file names; ``sync=False``: not fsynced, for copies that can be made
    again). The originals are only read."""
    files = attachment_files(read_report(folder))
    os.makedirs(out, mode=0o700, exist_ok=True)
    return [_one(folder / name, out / name, meta, sync) for name, meta in files]


def _one(path: Path, target: Path, meta: dict[str, Any], sync: bool = True
         ) -> AttachmentEvidence:
    item = AttachmentEvidence(name=path.name, attachment_id=str(meta.get("id", "")),
                              media_type=str(meta.get("media_type", "")), kind="missing")
    try:
        data, item.sha256, item.size = read_original(path)
    except OSError as exc:
        item.problems.append(f"cannot read: {exc.strerror}")
        return item
    if data is None:
        item.kind = "other"
        return item
    item.kind, item.facts = "image", metadata.inspect(data)
    item.phash = phash.image_hash(data)
    try:
        clean = scrub(data)
    except c.ImageError as exc:
        item.kind = "damaged"
        item.problems.append(str(exc))
        return item
    item.problems = verify_clean(clean)
    if not item.problems:
        write_new(target, clean, sync=sync)
        item.scrubbed_name, item.scrubbed_sha256 = target.name, metadata.sha256(clean)
    return item

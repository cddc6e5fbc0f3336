"""What an image attachment says about its author, read without changing a byte.

API:

* :func:`inspect` ``(data: bytes) -> ImageFacts``: device make/model, body and lens
  serial numbers, camera owner, capture time, GPS (``has_gps``; ``gps_lat``/``gps_lon`` in
  decimal degrees when readable), software; whether EXIF, XMP, IPTC, comments, text
  chunks, a C2PA manifest (JPEG APP11 JUMBF labelled ``c2pa``, PNG ``caBX``, WebP
  ``C2PA``) or a ProofMode mention in XMP are present; bytes after the end of the image.
  Never raises: a file that is not a JPEG, PNG or WebP has ``format=None``, a damaged
  one ``error`` set (and whatever was read before the damage).
* :func:`sha256` ``(data) -> str``: hex SHA-256 of the bytes as they arrived.

The segment structure is parsed by :mod:`keys.evidence.containers` (bounded, hostile-input
safe); the EXIF TIFF block by Pillow's ``Image.Exif`` (its IFD0, Exif and GPS IFDs).
Nothing is decompressed except an XMP ``iTXt`` chunk, and only its first 1 MiB.
"""

from __future__ import annotations

import hashlib
import math
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any, Optional

from PIL import Image

from keys.evidence import containers as c

XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXT_JPEG = b"http://ns.adobe.com/xmp/extension/\x00"
EXIF_JPEG = b"Exif\x00\x00"
IPTC_JPEG = b"Photoshop 3.0\x00"
XMP_PNG_KEY = b"XML:com.adobe.xmp"
MAX_TEXT = 200
_XMP_LIMIT = 1 << 20

# EXIF tag numbers (CIPA DC-008): IFD0, the Exif IFD and the GPS IFD.
IFD_EXIF, IFD_GPS = 0x8769, 0x8825
MAKE, MODEL, SOFTWARE, DATETIME, ORIENTATION = 0x010F, 0x0110, 0x0131, 0x0132, 0x0112
DATETIME_ORIGINAL, DATETIME_DIGITIZED = 0x9003, 0x9004
OWNER, BODY_SERIAL, LENS_MODEL, LENS_SERIAL, UNIQUE_ID = 0xA430, 0xA431, 0xA434, 0xA435, 0xA420
MAKER_NOTE = 0x927C


@dataclass
class ImageFacts:
    """The metadata an image carries (None / False when absent)."""

    format: Optional[str] = None
    error: Optional[str] = None
    width: Optional[int] = None
    height: Optional[int] = None
    make: Optional[str] = None
    model: Optional[str] = None
    body_serial: Optional[str] = None
    lens_model: Optional[str] = None
    lens_serial: Optional[str] = None
    owner: Optional[str] = None
    unique_id: Optional[str] = None
    software: Optional[str] = None
    capture_time: Optional[str] = None
    orientation: Optional[int] = None
    has_gps: bool = False
    gps_lat: Optional[float] = None
    gps_lon: Optional[float] = None
    has_exif: bool = False
    has_maker_note: bool = False
    has_xmp: bool = False
    has_iptc: bool = False
    has_comment: bool = False
    has_c2pa: bool = False
    proofmode: bool = False
    text_keys: list[str] = field(default_factory=list)
    trailing_bytes: int = 0

    @property
    def identifying(self) -> list[str]:
        """Names of the facts that can point at a person, a device or a place."""
        names = ("make", "model", "body_serial", "lens_serial", "owner", "unique_id",
                 "capture_time", "has_gps", "has_xmp", "has_iptc", "has_comment",
                 "has_maker_note", "has_c2pa")
        return [n for n in names if getattr(self, n)] + (["text"] if self.text_keys else [])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def inspect(data: bytes) -> ImageFacts:
    """The metadata of an image file (see the module docstring); never raises."""
    facts = ImageFacts(format=c.sniff(data))
    try:
        if facts.format == "jpeg":
            _inspect_jpeg(data, facts)
        elif facts.format == "png":
            _inspect_png(data, facts)
        elif facts.format == "webp":
            _inspect_webp(data, facts)
        else:
            facts.error = "not a JPEG, PNG or WebP image"
    except c.ImageError as exc:
        facts.error = str(exc)
    if facts.format and not facts.error and facts.width is None:
        facts.error = "no image size (no frame header)"
    return facts


def _inspect_jpeg(data: bytes, facts: ImageFacts) -> None:
    jpeg = c.jpeg_segments(data)
    facts.trailing_bytes = jpeg.trailing
    for seg in jpeg.segments:
        if seg.marker == 0xE1 and seg.startswith(EXIF_JPEG):
            _read_exif(seg.payload, facts)
        elif seg.marker == 0xE1 and seg.startswith((XMP_JPEG, XMP_EXT_JPEG)):
            _read_xmp(seg.payload, facts)
        elif seg.marker == 0xED:
            facts.has_iptc = facts.has_iptc or seg.startswith(IPTC_JPEG) or b"8BIM" in seg.payload
        elif seg.marker == 0xFE:
            facts.has_comment = True
        elif seg.marker == 0xEB and _is_c2pa_jumbf(seg.payload):
            facts.has_c2pa = True
        elif _is_frame(seg):
            facts.height = int.from_bytes(seg.payload[1:3], "big")
            facts.width = int.from_bytes(seg.payload[3:5], "big")


def _is_frame(seg: c.Segment) -> bool:
    """A start-of-frame segment (SOF0-15 but DHT, JPG, DAC) long enough to hold a size."""
    return (0xC0 <= seg.marker <= 0xCF and seg.marker not in (0xC4, 0xC8, 0xCC)
            and len(seg.payload) >= 5)


def _is_c2pa_jumbf(payload: bytes) -> bool:
    """APP11 carrying a JUMBF box (ISO 19566-5: "JP", box instance, sequence, then the
    ``jumb`` superbox whose ``jumd`` description box is labelled ``c2pa``)."""
    return payload.startswith(b"JP") and b"jumb" in payload[:64] and b"c2pa" in payload[:256]


def _inspect_png(data: bytes, facts: ImageFacts) -> None:
    png = c.png_chunks(data)
    facts.trailing_bytes = png.trailing
    for chunk in png.chunks:
        kind = chunk.kind
        if kind == b"IHDR" and len(chunk.data) >= 8:
            facts.width = int.from_bytes(chunk.data[0:4], "big")
            facts.height = int.from_bytes(chunk.data[4:8], "big")
        elif kind == b"eXIf":
            _read_exif(chunk.data, facts)
        elif kind == b"caBX":
            facts.has_c2pa = True
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            _read_png_text(chunk, facts)
        elif kind == b"tIME":
            facts.text_keys.append("tIME")


def _read_png_text(chunk: c.Chunk, facts: ImageFacts) -> None:
    key, _, rest = chunk.data.partition(b"\x00")
    name = _text(key) or "?"
    facts.text_keys.append(name)
    lowered = name.lower()
    if key == XMP_PNG_KEY and chunk.kind == b"iTXt":
        facts.has_xmp = True
        _read_xmp(_itxt_text(rest), facts)
    elif "iptc" in lowered:
        facts.has_iptc = True
    elif "exif" in lowered:
        facts.has_exif = True
    elif lowered == "comment":
        facts.has_comment = True


def _itxt_text(rest: bytes) -> bytes:
    """The text of an iTXt chunk after its keyword: compression flag and method,
    language tag, translated keyword, then the (maybe zlib-compressed) text."""
    if len(rest) < 2:
        return b""
    compressed, body = rest[0], rest[2:]
    parts = body.split(b"\x00", 2)
    text = parts[2] if len(parts) == 3 else b""
    if not compressed:
        return text
    try:
        return zlib.decompressobj().decompress(text, _XMP_LIMIT)
    except zlib.error:
        return b""


def _inspect_webp(data: bytes, facts: ImageFacts) -> None:
    riff = c.riff_chunks(data)
    facts.trailing_bytes = riff.trailing
    for chunk in riff.chunks:
        if chunk.kind == b"EXIF":
            _read_exif(chunk.data, facts)
        elif chunk.kind == b"XMP ":
            _read_xmp(chunk.data, facts)
        elif chunk.kind == b"C2PA":
            facts.has_c2pa = True
        elif chunk.kind == b"VP8X" and len(chunk.data) >= 10:
            facts.width = 1 + int.from_bytes(chunk.data[4:7], "little")
            facts.height = 1 + int.from_bytes(chunk.data[7:10], "little")
        elif chunk.kind == b"VP8 " and len(chunk.data) >= 10 and facts.width is None:
            facts.width = int.from_bytes(chunk.data[6:8], "little") & 0x3FFF
            facts.height = int.from_bytes(chunk.data[8:10], "little") & 0x3FFF
        elif chunk.kind == b"VP8L" and len(chunk.data) >= 5 and facts.width is None:
            bits = int.from_bytes(chunk.data[1:5], "little")
            facts.width, facts.height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1


def _read_xmp(payload: bytes, facts: ImageFacts) -> None:
    facts.has_xmp = True
    lowered = payload[:_XMP_LIMIT].lower()
    if b"proofmode" in lowered:
        facts.proofmode = True
    if b"gpslatitude" in lowered or b"gpslongitude" in lowered:
        facts.has_gps = True  # exif:GPSLatitude in XMP (lat/lon left unparsed)
    if b"c2pa" in lowered and b"manifest" in lowered:
        facts.has_c2pa = True


def _read_exif(payload: bytes, facts: ImageFacts) -> None:
    """The EXIF fields we report, from a TIFF block (with or without ``Exif\\0\\0``)."""
    facts.has_exif = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about damaged tags: not ours to print
            exif = Image.Exif()
            exif.load(payload)
            ifd0 = dict(exif)
            sub = dict(exif.get_ifd(IFD_EXIF))
            gps = dict(exif.get_ifd(IFD_GPS))
    except Exception:  # noqa: BLE001  Pillow's TIFF reader on hostile bytes: any error
        facts.error = "EXIF block is damaged (not read)"
        if b"GPS" in payload:
            facts.has_gps = True
        return
    facts.make = facts.make or _text(ifd0.get(MAKE))
    facts.model = facts.model or _text(ifd0.get(MODEL))
    facts.software = facts.software or _text(ifd0.get(SOFTWARE))
    facts.body_serial = _text(sub.get(BODY_SERIAL))
    facts.lens_model = _text(sub.get(LENS_MODEL))
    facts.lens_serial = _text(sub.get(LENS_SERIAL))
    facts.owner = _text(sub.get(OWNER))
    facts.unique_id = _text(sub.get(UNIQUE_ID))
    facts.has_maker_note = MAKER_NOTE in sub
    facts.capture_time = (_text(sub.get(DATETIME_ORIGINAL)) or _text(sub.get(DATETIME_DIGITIZED))
                          or _text(ifd0.get(DATETIME)))
    orientation = ifd0.get(ORIENTATION)
    facts.orientation = orientation if isinstance(orientation, int) else None
    _read_gps(gps, facts)


def _read_gps(gps: dict[int, Any], facts: ImageFacts) -> None:
    if not gps:
        return
    facts.has_gps = True
    lat = _degrees(gps.get(2), gps.get(1), "S")
    lon = _degrees(gps.get(4), gps.get(3), "W")
    if lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180:
        facts.gps_lat, facts.gps_lon = round(lat, 6), round(lon, 6)


def _degrees(value: Any, ref: Any, negative: str) -> Optional[float]:
    """Degrees, minutes, seconds (three rationals) as signed decimal degrees."""
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    result = d + m / 60 + s / 3600
    if not math.isfinite(result):
        return None
    return -result if _text(ref) == negative else result


def _text(value: Any) -> Optional[str]:
    """A tag's value as short printable text, or None if empty."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = "".join(ch for ch in str(value) if ch.isprintable()).strip()
    return text[:MAX_TEXT] or None

"""Test images for keys/evidence: photos full of metadata, built with Pillow and by hand."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo
from PIL.TiffImagePlugin import IFDRational

XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
       b'<rdf:RDF><rdf:Description xmlns:proofmode="https://proofmode.org/ns/" '
       b'proofmode:Location="53.9,27.56"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')
# ISO 19566-5 JUMBF: a "jumb" superbox whose "jumd" description box is labelled c2pa.
_JUMD = b"jumd" + bytes.fromhex("6332706100110010800000aa00389b71") + b"\x03c2pa\x00"
_JUMB = struct.pack(">I", 8 + 4 + len(_JUMD)) + b"jumb" + struct.pack(">I", 4 + len(_JUMD)) + _JUMD
C2PA_APP11 = b"JP" + b"\x00\x01" + b"\x00\x00\x00\x01" + _JUMB
IPTC_APP13 = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x0b\x1c\x02\x50\x00\x05Ivan "


def picture(seed: int, size: tuple[int, int] = (128, 96)) -> Image.Image:
    """A synthetic photo, distinct per seed: a gradient, shapes and some noise."""
    rnd = random.Random(seed)
    img = Image.new("RGB", size, tuple(rnd.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    w, h = size
    for _ in range(6):
        x0, y0 = rnd.randrange(w), rnd.randrange(h)
        x1, y1 = x0 + rnd.randrange(10, w // 2), y0 + rnd.randrange(10, h // 2)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        if rnd.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    for _ in range(w * h // 20):
        img.putpixel((rnd.randrange(w), rnd.randrange(h)),
                     tuple(rnd.randrange(256) for _ in range(3)))
    return img


def camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D Mark IV"
    exif[0x0131] = "Firmware 1.0.2"
    exif[0x0132] = "2025:01:21 10:00:00"
    exif[0x0112] = 6
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2025:01:21 09:59:58"
    sub[0xA431] = "032021001234"
    sub[0xA435] = "LS-0000777"
    sub[0xA430] = "Ivan Ivanov"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (IFDRational(53), IFDRational(54), IFDRational(36))
    gps[3], gps[4] = "E", (IFDRational(27), IFDRational(33), IFDRational(18))
    return exif


def with_segments(jpeg: bytes, segments: list[tuple[int, bytes]]) -> bytes:
    """``jpeg`` with extra marker segments right after SOI."""
    extra = b"".join(bytes([0xFF, m]) + struct.pack(">H", len(p) + 2) + p for m, p in segments)
    return jpeg[:2] + extra + jpeg[2:]


def dirty_jpeg(seed: int = 1, quality: int = 90) -> bytes:
    """A JPEG with EXIF (make, model, serials, owner, times, GPS), XMP mentioning
    ProofMode, IPTC, a comment, a C2PA APP11 box, an MPF-like APP2 and a trailer."""
    buf = io.BytesIO()
    picture(seed).save(buf, "JPEG", quality=quality, exif=camera_exif().tobytes(),
                       comment=b"taken at station 17 by Ivan", icc_profile=b"\x00" * 128)
    xmp = b"http://ns.adobe.com/xap/1.0/\x00" + XMP
    return with_segments(buf.getvalue(), [(0xE1, xmp), (0xEB, C2PA_APP11),
                                          (0xED, IPTC_APP13), (0xE2, b"MPF\x00II*\x00")]
                         ) + b"MOTION-PHOTO-TRAILER GPS 53.9"


def dirty_png(seed: int = 2) -> bytes:
    info = PngInfo()
    info.add_text("Comment", "station 17, Ivan")
    info.add_text("Author", "Ivan Ivanov", zip=True)
    info.add_itxt("XML:com.adobe.xmp", XMP.decode(), zip=True)
    info.add(b"tIME", struct.pack(">HBBBBB", 2025, 1, 21, 10, 0, 0))
    info.add(b"caBX", _JUMB)
    info.add(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))
    buf = io.BytesIO()
    picture(seed).save(buf, "PNG", pnginfo=info, exif=camera_exif().tobytes())
    return buf.getvalue()


def dirty_webp(seed: int = 3) -> bytes:
    buf = io.BytesIO()
    picture(seed).save(buf, "WEBP", quality=80, exif=camera_exif().tobytes(), xmp=XMP)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()

"""Perceptual hashes: the same photo, re-compressed or resized, gets a nearby hash.

API:

* :func:`image_hash` ``(data: bytes) -> int | None``: a 64-bit DCT hash (pHash) of a
  JPEG, PNG or WebP; None if it cannot be decoded (or is larger than
  :data:`MAX_PIXELS`). The image is turned as its EXIF orientation says, made grey,
  shrunk to 32x32; the hash has one bit per low-frequency DCT coefficient (8x8),
  set when the coefficient is above their median.
* :func:`hamming` ``(a, b) -> int``: the number of differing bits.
* :data:`THRESHOLD`: the distance up to which two photos count as near-identical,
  tuned on the generated pictures of tests/keys (1,000 re-compressions at JPEG
  quality 35-95, resizes to 50-100 % and PNG copies of 200 pictures: all within 6;
  the 19,900 pairs of different pictures: all 14 or more apart).

A hash match says "looks the same", never "is the same": a photo of a plain wall or a
black frame matches many others. Grouping (keys.evidence.groups) therefore lets a
photo link be vetoed by a contradicting day or place.
"""

from __future__ import annotations

import io
import math
import warnings
from operator import mul
from typing import Optional

from PIL import Image, ImageOps

from keys.evidence import containers

MAX_PIXELS = 60_000_000
THRESHOLD = 10
_SIZE, _LOW = 32, 8
_COS = [[math.cos((2 * x + 1) * u * math.pi / (2 * _SIZE)) for x in range(_SIZE)]
        for u in range(_LOW)]


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def image_hash(data: bytes) -> Optional[int]:
    """The pHash of an image file, or None (not an image, damaged, too large)."""
    if containers.sniff(data) is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels = _grey_thumbnail(data)
    except Exception:  # noqa: BLE001  Pillow decoding hostile bytes: any error
        return None
    return None if pixels is None else _dct_hash(pixels)


def _grey_thumbnail(data: bytes) -> Optional[list[float]]:
    with Image.open(io.BytesIO(data)) as img:
        if img.format not in ("JPEG", "PNG", "WEBP"):
            return None
        width, height = img.size
        if width * height > MAX_PIXELS or width < 1 or height < 1:
            return None
        img.draft("L", (_SIZE * 4, _SIZE * 4))  # JPEG: decode at 1/2..1/8 scale
        img.load()
        turned = ImageOps.exif_transpose(img) or img
        small = turned.convert("L").resize((_SIZE, _SIZE), Image.Resampling.BOX)
        return [float(v) for v in small.tobytes()]


def _dct_hash(pixels: list[float]) -> int:
    rows = [pixels[y * _SIZE : (y + 1) * _SIZE] for y in range(_SIZE)]
    # 2-D DCT-II, only the 8x8 lowest frequencies: rows first, then columns.
    # (sum(map(mul, ...)) is the same arithmetic, in the same order, as a generator
    # of products: about 3 times faster, and the hash is most of the summary's time.)
    row_coef = [[sum(map(mul, row, _COS[u])) for u in range(_LOW)] for row in rows]
    columns = [[row_coef[y][u] for y in range(_SIZE)] for u in range(_LOW)]
    coef = [sum(map(mul, _COS[v], columns[u])) for v in range(_LOW) for u in range(_LOW)]
    median = sorted(coef[1:])[(len(coef) - 1) // 2]
    bits = 0
    for value in coef:
        bits = (bits << 1) | (value > median)
    return bits

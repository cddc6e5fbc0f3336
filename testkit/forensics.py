"""What a seized data directory says about when reports came, looked at as an adversary would.

``image(root)`` records every file's and folder's four times (access, modification,
change, birth) and the raw bytes of the database files; ``times_in(image, lo, hi)``
lists every time, and every byte pattern that decodes to a time, that falls inside
``[lo, hi]`` (the span when reports were sent). Times that are exactly the start of
a UTC day say only the day and are not findings.

Byte patterns searched: Unix seconds as 32- and 64-bit integers; milliseconds,
microseconds and nanoseconds as 64-bit integers (both byte orders); seconds and
Julian days as IEEE doubles (both byte orders); decimal Unix seconds and
milliseconds as text; ``HH:MM:SS`` of each second of the span as text.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

DAY = 86400
JULIAN_UNIX_EPOCH = 2440587.5


@dataclass
class Image:
    """Times of every path and the bytes of the database files of a data directory."""

    times: dict[str, dict[str, float]] = field(default_factory=dict)
    raw: dict[str, bytes] = field(default_factory=dict)


def birth_times(paths: list[Path]) -> dict[Path, float]:
    """Birth times (statx, through GNU stat); 0 where the file system keeps none."""
    if not paths:
        return {}
    out = subprocess.run(["stat", "-c", "%.9W", "--", *map(str, paths)],
                         capture_output=True, text=True, check=False)
    values = out.stdout.split()
    return {p: float(v) if v not in ("0", "-") else 0.0 for p, v in zip(paths, values)}


def image(root: Path, skip: tuple[str, ...] = ("tor", "onion"),
          raw_glob: str = "skrynka.db*") -> Image:
    """Stat every file and folder under ``root`` (but ``skip``), then read the database's
    bytes. Each folder is stated before it is listed and every file before any is
    read: listing or reading would set their access times (relatime)."""
    img = Image()
    stats: dict[Path, os.stat_result] = {}
    folders = [root]
    while folders:
        folder = folders.pop()
        stats[folder] = os.lstat(folder)
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if folder == root and entry.name in skip:
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                folders.append(path)
            else:
                stats[path] = os.lstat(path)
    births = birth_times(list(stats))
    for path, st in stats.items():
        img.times[str(path.relative_to(root))] = {
            "atime": st.st_atime_ns / 1e9, "mtime": st.st_mtime_ns / 1e9,
            "ctime": st.st_ctime_ns / 1e9, "birth": births.get(path, 0.0),
        }
    for path in sorted(root.glob(raw_glob)):
        img.raw[path.name] = path.read_bytes()
    return img


def _is_day_start(t: float) -> bool:
    return t % DAY == 0


def stat_findings(img: Image, lo: float, hi: float) -> list[str]:
    return [f"{name}: {kind} {_clock(t)}" for name, times in sorted(img.times.items())
            for kind, t in times.items() if lo <= t <= hi and not _is_day_start(t)]


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%H:%M:%S.%f")


def _scan_ints(data: bytes, lo: int, hi: int, size: int, order: str) -> list[int]:
    """Offsets of ``size``-byte unsigned integers in [lo, hi]: the bytes that stay the
    same across the range are searched, then each candidate is decoded."""
    fmt = {4: "I", 8: "Q"}[size]
    pack = struct.Struct(("<" if order == "little" else ">") + fmt)
    keep = size
    while keep > 1 and len({pack.pack(v)[_keep(size, keep, order)] for v in (lo, hi)}) > 1:
        keep -= 1
    prefixes = {pack.pack(v)[_keep(size, keep, order)] for v in (lo, hi)}
    hits = []
    for prefix in prefixes:
        shift = 0 if order == "big" else size - keep
        for m in re.finditer(re.escape(prefix), data):
            start = m.start() - shift
            if 0 <= start <= len(data) - size:
                value = pack.unpack_from(data, start)[0]
                if lo <= value <= hi:
                    hits.append(start)
    return sorted(set(hits))


def _keep(size: int, keep: int, order: str) -> slice:
    """The ``keep`` most significant bytes of a ``size``-byte integer in ``order``."""
    return slice(0, keep) if order == "big" else slice(size - keep, size)


def _scan_doubles(data: bytes, lo: float, hi: float) -> list[int]:
    hits = []
    for order in "<>":
        pack = struct.Struct(order + "d")
        heads = {pack.pack(v)[:4] if order == ">" else pack.pack(v)[4:] for v in (lo, hi)}
        for head in heads:
            for m in re.finditer(re.escape(head), data):
                start = m.start() if order == ">" else m.start() - 4
                if 0 <= start <= len(data) - 8:
                    value = pack.unpack_from(data, start)[0]
                    if lo <= value <= hi:
                        hits.append(start)
    return sorted(set(hits))


def _scan_text(data: bytes, lo: float, hi: float) -> list[str]:
    found = []
    for m in re.finditer(rb"(?<![0-9])1[0-9]{9}(?:[0-9]{3})?(?![0-9])", data):
        value = int(m.group())
        seconds = value / 1000 if len(m.group()) == 13 else value
        if lo <= seconds <= hi:
            found.append(f"text {m.group().decode()} at {m.start()}")
    for second in range(int(lo), int(hi) + 1):
        clock = dt.datetime.fromtimestamp(second, dt.timezone.utc).strftime("%H:%M:%S")
        for m in re.finditer(re.escape(clock.encode()), data):
            found.append(f"text {clock} at {m.start()}")
    return found


def byte_findings(img: Image, lo: float, hi: float) -> list[str]:
    out = []
    for name, data in sorted(img.raw.items()):
        for unit, size in ((1, 4), (1, 8), (1000, 8), (10**6, 8), (10**9, 8)):
            for order in ("little", "big"):
                for at in _scan_ints(data, int(lo * unit), int(hi * unit) + unit, size, order):
                    out.append(f"{name}: {size * 8}-bit {order}-endian time x{unit} at {at}")
        for at in _scan_doubles(data, lo, hi):
            out.append(f"{name}: double seconds at {at}")
        jd_lo, jd_hi = JULIAN_UNIX_EPOCH + lo / DAY, JULIAN_UNIX_EPOCH + hi / DAY
        for at in _scan_doubles(data, jd_lo, jd_hi):
            out.append(f"{name}: double Julian day at {at}")
        out += [f"{name}: {hit}" for hit in _scan_text(data, lo, hi)]
    return out


def times_in(img: Image, lo: float, hi: float) -> list[str]:
    """Everything in ``img`` that places an event inside ``[lo, hi]`` finer than the day."""
    return stat_findings(img, lo, hi) + byte_findings(img, lo, hi)

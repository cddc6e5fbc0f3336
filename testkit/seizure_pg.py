"""What an adversary recovers from a PostgreSQL data directory (issue 13).

Used by tests/hostile/test_seizure_pg.py, which submits reports at known times
(each a :class:`Window`: just before the POST, just after the receipt) and then
reads the data directory as a seizer would, with no help from the server:

- :func:`waldump`: ``pg_waldump`` over every segment in ``pg_wal``, parsed into
  records (commit records carry their commit time to the microsecond);
- :func:`heap_xmins`: the ``t_xmin`` of every tuple in a heap file, read from the
  raw 8 KiB pages (which transaction wrote each row);
- :func:`raw_times`: every file's bytes searched for a 64-bit time inside a
  window (PostgreSQL's microseconds since 2000, Unix seconds, Unix microseconds),
  at every byte offset;
- :func:`stat_hits`: atime, mtime and ctime of every file and directory;
- :func:`log_hits`: server log lines stamped inside a window.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

PG_EPOCH = 946_684_800  # 2000-01-01 00:00 UTC in Unix seconds
PAGE = 8192
LP_NORMAL = 1
#: The kernel stamps files from a coarse clock that ticks every 1-10 ms (jiffies) and
#: lags time.time(): a file written inside a window can carry a time a few ms before it
#: (seen: 6.5 ms on a 250 Hz kernel). The test leaves far more than this between a
#: window and anything else it does.
FILE_CLOCK_SLACK = 0.05
SEGMENT = re.compile(r"^[0-9A-F]{24}$")
WAL_LINE = re.compile(r"^rmgr: (\S+)\s+len.*?tx:\s+(\d+), lsn: \S+, prev \S+, desc: (.*)$")
COMMIT = re.compile(r"^COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC")
REL = re.compile(r"rel (\d+/\d+/\d+) ")
LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC")


@dataclass(frozen=True)
class Window:
    """When a report was being sent: time.time() before the POST and after its receipt."""

    before: float
    after: float

    def holds(self, t: float, slack: float = 0.0) -> bool:
        return self.before - slack <= t <= self.after + slack


@dataclass(frozen=True)
class WalRecord:
    rmgr: str
    xid: int
    desc: str


def _utc(text: str, fmt: str) -> float:
    return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.timezone.utc).timestamp()


def segments(pg_wal: Path) -> list[Path]:
    return sorted(p for p in pg_wal.iterdir() if SEGMENT.match(p.name))


def waldump(bindir: Path, pg_wal: Path) -> list[WalRecord]:
    """Every record pg_waldump can read from the first to the last segment present.

    pg_waldump stops with an error at the end of the valid WAL (a segment being
    written, or a preallocated one): what it printed before is kept."""
    segs = segments(pg_wal)
    if not segs:
        return []
    done = subprocess.run(
        [str(bindir / "pg_waldump"), "-p", str(pg_wal), segs[0].name, segs[-1].name],
        capture_output=True, text=True, timeout=60, env={**os.environ, "TZ": "UTC"},
    )
    records = []
    for line in done.stdout.splitlines():
        m = WAL_LINE.match(line)
        if m:
            records.append(WalRecord(m.group(1), int(m.group(2)), m.group(3)))
    return records


def commit_times(records: Sequence[WalRecord]) -> dict[int, float]:
    """xid -> commit time (Unix seconds, microsecond precision) of each COMMIT record."""
    out = {}
    for r in records:
        m = COMMIT.match(r.desc) if r.rmgr == "Transaction" else None
        if m:
            fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in m.group(1) else "%Y-%m-%d %H:%M:%S"
            out[r.xid] = _utc(m.group(1), fmt)
    return out


def insert_xids(records: Sequence[WalRecord], relation: str) -> set[int]:
    """Transactions whose WAL records insert into ``relation`` (``tablespace/db/relfilenode``)."""
    found = set()
    for r in records:
        if r.rmgr.startswith("Heap") and "INSERT" in r.desc and relation in REL.findall(r.desc):
            found.add(r.xid)
    return found


def heap_xmins(path: Path) -> list[int]:
    """``t_xmin`` of every normal tuple in a heap file, from its raw pages."""
    data = path.read_bytes() if path.exists() else b""
    xmins = []
    for start in range(0, len(data) - PAGE + 1, PAGE):
        page = data[start : start + PAGE]
        lower = struct.unpack_from("<H", page, 12)[0]
        if lower < 24 or lower > PAGE:
            continue  # a zeroed page (extended, never written back)
        for off in range(24, lower, 4):
            lp = struct.unpack_from("<I", page, off)[0]
            lp_off, flags, length = lp & 0x7FFF, (lp >> 15) & 3, lp >> 17
            if flags == LP_NORMAL and length >= 23 and lp_off + 4 <= PAGE:
                xmins.append(struct.unpack_from("<I", page, lp_off)[0])
    return xmins


def _int64_at(data: bytes, lo: int, hi: int) -> Iterator[int]:
    """Offsets where a little-endian int64 in [lo, hi] starts (any alignment)."""
    low_bytes = -(-(hi - lo).bit_length() // 8)
    for prefix in range(lo >> (8 * low_bytes), (hi >> (8 * low_bytes)) + 1):
        needle = prefix.to_bytes(8 - low_bytes, "little")
        pos = data.find(needle)
        while pos != -1:
            start = pos - low_bytes
            if start >= 0 and lo <= int.from_bytes(data[start : start + 8], "little") <= hi:
                yield start
            pos = data.find(needle, pos + 1)


def _ranges(w: Window) -> dict[str, tuple[int, int]]:
    pg_before, pg_after = w.before - PG_EPOCH, w.after - PG_EPOCH
    return {
        "postgres-microseconds": (int(pg_before * 1e6), int(pg_after * 1e6)),
        "unix-seconds": (int(w.before), int(w.after)),
        "unix-microseconds": (int(w.before * 1e6), int(w.after * 1e6)),
    }


def walk(root: Path) -> Iterator[Path]:
    yield root
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames) + sorted(filenames):
            yield Path(dirpath) / name


def raw_times(root: Path, windows: Sequence[Window]) -> dict[str, list[str]]:
    """Files under ``root`` whose bytes hold a 64-bit time inside a window: path ->
    ["<kind> report <n>", …]."""
    hits: dict[str, list[str]] = {}
    for path in walk(root):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for n, w in enumerate(windows, 1):
            for kind, (lo, hi) in _ranges(w).items():
                if next(_int64_at(data, lo, hi), None) is not None:
                    hits.setdefault(str(path.relative_to(root)), []).append(f"{kind} report {n}")
    return hits


def stat_hits(root: Path, windows: Sequence[Window]) -> dict[str, list[str]]:
    """Files and directories under ``root`` with an atime, mtime or ctime inside a
    window: path -> ["mtime report <n>", …]."""
    hits: dict[str, list[str]] = {}
    for path in walk(root):
        st = path.lstat()
        for name in ("atime", "mtime", "ctime"):
            t = getattr(st, f"st_{name}_ns") / 1e9
            hits_here = [f"{name} report {n}" for n, w in enumerate(windows, 1)
                         if w.holds(t, FILE_CLOCK_SLACK)]
            if hits_here:
                hits.setdefault(str(path.relative_to(root)) or ".", []).extend(hits_here)
    return hits


def log_hits(log: Path, windows: Sequence[Window]) -> list[str]:
    """Log lines whose time stamp (log_line_prefix %m, milliseconds) is inside a window."""
    text = log.read_text(errors="replace") if log.exists() else ""
    out = []
    for line in text.splitlines():
        m = LOG_STAMP.match(line)
        if m and any(w.holds(_utc(m.group(1), "%Y-%m-%d %H:%M:%S.%f"), 0.001) for w in windows):
            out.append(line)
    return out

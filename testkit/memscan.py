"""Search a live process's memory for byte strings, through /proc (root or same user).

Reads every readable mapping of ``/proc/<pid>/maps`` from ``/proc/<pid>/mem``, as an
attacker with the process's memory would. Mappings that vanish or refuse a read
while we look (the process frees memory, or [vvar]) are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

CHUNK = 16 << 20


def _regions(pid: int) -> Iterator[tuple[int, int]]:
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split()
            if not fields[1].startswith("r") or line.rstrip().endswith(("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            yield start, end


def find_in_memory(pid: int, needles: Iterable[bytes]) -> set[bytes]:
    """The needles found anywhere in ``pid``'s readable memory."""
    wanted = set(needles)
    overlap = max((len(n) for n in wanted), default=1) - 1
    found: set[bytes] = set()
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        for start, end in _regions(pid):
            tail = b""
            pos = start
            while pos < end and wanted - found:
                try:
                    data = os.pread(fd, min(CHUNK, end - pos), pos)
                except OSError:
                    break
                if not data:
                    break
                window = tail + data
                found.update(n for n in wanted - found if n in window)
                tail = window[-overlap:] if overlap else b""
                pos += len(data)
    finally:
        os.close(fd)
    return found

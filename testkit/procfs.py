"""What the kernel says about a process, from /proc: CPU time used, memory held, liveness.

The benchmarks measure the server's cost from here, never from the client's clock: CPU
seconds are what the server's processes used, whatever the load client did meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards); None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def cpu_seconds(pids: Iterable[int], *, reaped_children: bool = False) -> float:
    """User + system CPU seconds the processes have used so far (0 for a process gone).

    With ``reaped_children``, also the CPU of their children that exited and were waited
    for (cutime + cstime): a gunicorn worker that dies during a run is then still counted,
    in its master's figure."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is None:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
        if reaped_children:
            ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLK_TCK


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS, KiB); 0 when it is gone."""
    return _status_kib(pid, "VmRSS")


def peak_rss_kib(pid: int) -> int:
    """The most the process has held resident (VmHWM, KiB) since start or the last
    :func:`reset_peak_rss`; 0 when it is gone."""
    return _status_kib(pid, "VmHWM")


def reset_peak_rss(pid: int) -> bool:
    """Start VmHWM again from the current RSS (``5`` to /proc/<pid>/clear_refs, Linux 4.0+).

    False when the kernel does not allow it; VmHWM then still bounds the peak from above."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"

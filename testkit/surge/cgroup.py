"""A CPU cap for the emulated small server: a cgroup with a CFS quota.

    with CpuCap("skrynka-smallsrv-1234", percent=5) as cap:
        cap.add(tor_pid)
        ...
        cap.throttling()   # (periods, throttled periods, throttled seconds)

cgroup v1 (``/sys/fs/cgroup/cpu/<name>/cpu.cfs_quota_us``) is tried first, then v2
(``/sys/fs/cgroup/<name>/cpu.max``, with ``+cpu`` in the root's subtree_control).
:func:`CpuCap.available` says why neither is writable (not root, read-only mount, no
cpu controller). On exit the processes go back to the root group and the group is
removed, whatever happened in between.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


class CpuCapError(RuntimeError):
    """The cgroup could not be made or used (the message says why)."""


def _v1_dir() -> Path | None:
    base = ROOT / "cpu"
    return base if (base / "cpu.cfs_quota_us").exists() else None


def _v2_dir() -> Path | None:
    ctl = ROOT / "cgroup.controllers"
    if ctl.exists() and "cpu" in ctl.read_text().split():
        return ROOT
    return None


class CpuCap:
    """``percent`` of one core for the processes :meth:`add` puts in the group."""

    def __init__(self, name: str, percent: float) -> None:
        self.name = name
        self.percent = percent
        self.version = 0
        self.path: Path | None = None
        self._pids: list[int] = []

    @staticmethod
    def available() -> str:
        """'' when a cap can be made here, else why not."""
        if os.geteuid() != 0:
            return "not root: cgroups not writable"
        base = _v1_dir() or _v2_dir()
        if base is None:
            return "no cgroup cpu controller (neither v1 cpu.cfs_quota_us nor v2 cpu.max)"
        if not os.access(base, os.W_OK):
            return f"{base} not writable (read-only cgroup mount?)"
        return ""

    def __enter__(self) -> CpuCap:
        quota = max(1000, int(PERIOD_US * self.percent / 100))
        try:
            if (v1 := _v1_dir()) is not None:
                self.version, self.path = 1, v1 / self.name
                self.path.mkdir()
                (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (self.path / "cpu.cfs_quota_us").write_text(str(quota))
            elif (v2 := _v2_dir()) is not None:
                with contextlib.suppress(OSError):
                    (v2 / "cgroup.subtree_control").write_text("+cpu")
                self.version, self.path = 2, v2 / self.name
                self.path.mkdir()
                (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                raise CpuCapError(self.available() or "no cgroup cpu controller")
        except OSError as exc:
            self.__exit__()
            raise CpuCapError(f"cgroup {self.name}: {exc}") from exc
        return self

    def add(self, pid: int) -> None:
        """Move ``pid`` (all its threads) into the group."""
        if self.path is None:
            raise CpuCapError("cgroup not made")
        (self.path / "cgroup.procs").write_text(str(pid))
        self._pids.append(pid)

    def members(self) -> list[int]:
        if self.path is None:
            return []
        with contextlib.suppress(OSError):
            return [int(x) for x in (self.path / "cgroup.procs").read_text().split()]
        return []

    def throttling(self) -> tuple[int, int, float]:
        """(CFS periods, periods in which the group was throttled, seconds throttled)."""
        if self.path is None:
            return 0, 0, 0.0
        stat: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in (self.path / "cpu.stat").read_text().splitlines():
                key, _, val = line.partition(" ")
                stat[key] = int(val)
        if self.version == 1:
            return stat.get("nr_periods", 0), stat.get("nr_throttled", 0), \
                stat.get("throttled_time", 0) / 1e9
        return stat.get("nr_periods", 0), stat.get("nr_throttled", 0), \
            stat.get("throttled_usec", 0) / 1e6

    def __exit__(self, *exc: object) -> None:
        if self.path is None or not self.path.exists():
            return
        parent = self.path.parent
        for pid in self.members():
            with contextlib.suppress(OSError):
                (parent / "cgroup.procs").write_text(str(pid))
        with contextlib.suppress(OSError):
            self.path.rmdir()

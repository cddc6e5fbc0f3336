"""The data directory's file times say the day, never the moment.

Every write sets a file's modification and change times to the moment, and a
report's arrival is such a write (the database, its WAL and shared-memory
files). A file's change time (ctime) cannot be set by any program; it moves
to "now" on every write and every change of the other times. So the clock
does what can be done:

* every :data:`PERIOD_S` seconds while the server runs, and once when a worker or
  the master exits, it sets the access and modification times of every file
  and folder in the data directory to the start of the current UTC day. Their
  change times then say "the clock ran at this moment", which it does every
  few seconds whatever arrives; the moment of the last write is overwritten.
* what remains (SECURITY.md, "A seized disk"): a server stopped by pulling the
  plug shows the moment of its last writes if they came after the last tick,
  i.e. within :data:`PERIOD_S` seconds of the power cut.

tor's folder and onion/'s are left alone: tor and ``python -m onion`` write them
on their own schedule (start, rotation), nothing in them is about reports, and
serve notices a rotation by ``services.json``'s times.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import time
from pathlib import Path

PERIOD_S = 2.0
SKIPPED = frozenset({"tor", "onion"})  # tor's DataDirectory; onion/'s state


def day_start(now: float | None = None) -> float:
    """The start of the UTC day of ``now`` (default: the current time), in seconds."""
    moment = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.timezone.utc)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def pin(root: Path, now: float | None = None) -> int:
    """Set atime and mtime of ``root`` and everything under it (but :data:`SKIPPED`)
    to the start of the day; returns how many paths were set. Files that vanish
    meanwhile are skipped; nothing here raises for one path."""
    stamp = day_start(now)
    count = 0
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if folder == str(root) and entry.name in SKIPPED:
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)  # pinned once it has been listed
                    continue
                os.utime(entry.path, (stamp, stamp), follow_symlinks=False)
                count += 1
        with contextlib.suppress(OSError):
            os.utime(folder, (stamp, stamp), follow_symlinks=False)
            count += 1
    return count


class DayClock:
    """A daemon thread that pins ``root``'s times every ``period`` seconds."""

    def __init__(self, root: Path, period: float = PERIOD_S) -> None:
        self.root = root
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="skrynka-dayclock", daemon=True)

    def start(self) -> DayClock:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            pin(self.root)

    def stop(self) -> None:
        """Stop ticking and pin once more (a stopped server shows only the day)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.period + 1)
        pin(self.root)

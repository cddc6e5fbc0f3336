"""One serve per data directory: ``onion/serve.pid``, locked (flock) while serve runs.

serve takes an exclusive lock on the file before it touches anything else of the data
directory (tor's folder, the cookie, the hostnames file, the keys, the web port) and
holds it until it exits; the kernel drops the lock when the process ends, however it
ends, so a file left by a killed serve blocks nothing. Whether serve runs is "is the
file locked", never "is the pid in it alive" (pids are reused). ``status`` and
``rotate`` ask with a shared lock held for a moment; a serve that starts meanwhile
waits for it (:data:`WAIT_S`) instead of refusing.

The file holds the pid and nothing else, and its times are set to the start of the
UTC day (invariant 6: no time finer than the day on disk, file times included); it is
emptied when serve stops. Files are opened with ``O_NOATIME`` where allowed, so a
reader does not stamp the moment into the access time either.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from onion import state
from onion.errors import AlreadyRunning

PID_FILE = "serve.pid"
WAIT_S = 1.0          # longer than any reader holds its shared lock
DAY_S = 86400


def pid_path(data: Path) -> Path:
    return state.onion_dir(data) / PID_FILE


def _open(path: Path, flags: int) -> int:
    """``os.open`` with O_NOATIME when the kernel allows it (we own the file)."""
    noatime = getattr(os, "O_NOATIME", 0)
    try:
        return os.open(path, flags | noatime | os.O_CLOEXEC, 0o600)
    except PermissionError:
        if not noatime:
            raise
        return os.open(path, flags | os.O_CLOEXEC, 0o600)


def _pid_in(fd: int) -> int:
    """The pid written in the file, 0 if none yet (a serve between lock and write)."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else 0


def _pin_day(fd: int) -> None:
    now = time.time()
    stamp = now - now % DAY_S
    os.utime(fd, (stamp, stamp))


def _try_lock(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def running_pid(data: Path) -> int | None:
    """The pid of the serve running with ``data`` (0 if it has not written it yet), or None
    if none runs. Creates nothing."""
    try:
        fd = _open(pid_path(data), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if _try_lock(fd, fcntl.LOCK_SH):
            return None           # nobody holds it; closing the file lets it go
        return _pid_in(fd)
    finally:
        os.close(fd)


def refusal(data: Path, pid: int) -> AlreadyRunning:
    shown = f"pid {pid}" if pid else "pid not written yet"
    return AlreadyRunning(f"serve is already running ({shown}) with the data directory {data}")


@contextlib.contextmanager
def hold(data: Path, wait: float = WAIT_S) -> Iterator[None]:
    """Run the body as the one serve of ``data``; raise AlreadyRunning (having changed
    nothing) if another holds the lock. ``data`` must exist (checks.require_data_dir)."""
    path = pid_path(data)
    path.parent.mkdir(exist_ok=True, mode=0o700)
    fd = _open(path, os.O_RDWR | os.O_CREAT)
    try:
        deadline = time.monotonic() + wait
        while not _try_lock(fd, fcntl.LOCK_EX):
            if time.monotonic() >= deadline:
                raise refusal(data, _pid_in(fd))
            time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        _pin_day(fd)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            _pin_day(fd)
    finally:
        os.close(fd)             # the kernel drops the lock

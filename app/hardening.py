"""Less to take from a running server: no core dumps, no ptrace by the same user.

A report is in the clear in a worker's memory while it is read and sealed, and
freed memory keeps its bytes until something overwrites them. A core dump
(a crash, ``gcore``, abrt or systemd-coredump) would copy that memory to disk,
and any process of the same user could read it through ``/proc/<pid>/mem`` or
ptrace. :func:`harden_process` closes both for the calling process:

* ``RLIMIT_CORE`` soft and hard 0: no core file, and the limit cannot be raised
  again without ``CAP_SYS_RESOURCE``;
* ``prctl(PR_SET_DUMPABLE, 0)`` (Linux): no core dump even through a core pipe,
  ``/proc/<pid>/`` owned by root, and ptrace/``/proc/<pid>/mem`` refused to
  every process without ``CAP_SYS_PTRACE``.

The dumpable flag is reset by ``execve`` and by a change of user id, so each
process sets it itself (gunicorn.conf.py's ``on_starting`` for the master,
app/worker.py for every worker once it runs as its final user). Root keeps
``CAP_SYS_PTRACE``; against root only a short life of the plaintext helps
(worker recycling, app/worker.py).
"""

from __future__ import annotations

import ctypes
import os
import sys

if sys.platform != "win32":
    import resource

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
M_PERTURB = -6  # glibc mallopt: fill freed (and new) blocks with this byte
PERTURB_BYTE = 0x5A


def _prctl(option: int, arg: int = 0) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    result = int(prctl(option, arg, 0, 0, 0))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")
    return result


def harden_process() -> None:
    """No core dumps and (on Linux) not dumpable, for the calling process.

    Raises OSError if the kernel refuses: a worker that cannot harden itself
    must not start (gunicorn then stops with "Worker failed to boot").
    """
    if sys.platform == "win32":  # no core dumps nor /proc to close
        return
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):
        _prctl(PR_SET_DUMPABLE, 0)
        clear_freed_memory()


def clear_freed_memory() -> bool:
    """glibc: overwrite every block when it is freed (``mallopt(M_PERTURB)``), so a
    report's longer strings (over 512 bytes: Python hands those to malloc) do not
    outlive their objects in freed memory. Python's own small-object arenas are not
    covered; recycling is. False where there is no glibc."""
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_PERTURB, PERTURB_BYTE))
    except (OSError, AttributeError):
        return False


def is_dumpable() -> bool | None:
    """Whether the calling process may be dumped or ptraced by its user (None: not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    return _prctl(PR_GET_DUMPABLE) != 0


def core_limit() -> tuple[int, int] | None:
    """The calling process's (soft, hard) core-file size limit (None: no such limit here)."""
    if sys.platform == "win32":
        return None
    return resource.getrlimit(resource.RLIMIT_CORE)

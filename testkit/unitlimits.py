"""The limits of deploy/systemd/skrynka.service that a process can put on itself, for tests
that run serve as the unit would without systemd: no core dumps, no new privileges,
MemoryDenyWriteExecute (PR_SET_MDWE, Linux 6.3+) and the unit's system call filter
(libseccomp, EPERM for the rest, as SystemCallErrorNumber=EPERM)."""

from __future__ import annotations

import ctypes
import resource
import subprocess
from collections.abc import Callable

PR_SET_NO_NEW_PRIVS, PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 38, 65, 66, 1
SCMP_ACT_ALLOW, SCMP_ACT_ERRNO = 0x7FFF0000, 0x00050000


def mdwe_supported() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(PR_GET_MDWE, 0, 0, 0, 0)) >= 0


def syscall_group(name: str) -> set[str]:
    """A systemd syscall group, nested groups expanded (systemd-analyze syscall-filter)."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    calls: set[str] = set()
    for line in out.splitlines()[1:]:
        word = line.strip()
        if word.startswith("@"):
            calls |= syscall_group(word)
        elif word and not word.startswith("#"):
            calls.add(word)
    return calls


def unit_syscalls(filters: list[str]) -> set[str]:
    """What a unit's SystemCallFilter= values allow (an allow list, then ~ removals)."""
    allowed: set[str] = set()
    for value in filters:
        deny = value.startswith("~")
        names = set().union(*(syscall_group(w) if w.startswith("@") else {w}
                              for w in value.lstrip("~").split()))
        allowed = allowed - names if deny else allowed | names
    assert allowed
    return allowed


def as_the_unit(syscalls: set[str]) -> Callable[[], None]:
    """For serve's process before exec (inherited by gunicorn): the unit's limits that a
    process can set on itself: no core dumps, no new privileges, MemoryDenyWriteExecute,
    and its system call filter (EPERM for the rest, SystemCallErrorNumber=), built here
    with libseccomp as systemd builds it. Namespaces and mounts need systemd."""
    def apply() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
        if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_MDWE")
        if not syscalls:
            return
        lib = ctypes.CDLL("libseccomp.so.2")
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                         ctypes.c_uint]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        ctx = lib.seccomp_init(SCMP_ACT_ERRNO | 1)   # EPERM
        for name in sorted(syscalls):
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr >= 0 and lib.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0:
                raise OSError(f"seccomp_rule_add {name}")
        if lib.seccomp_load(ctx) != 0:
            raise OSError("seccomp_load")
    return apply

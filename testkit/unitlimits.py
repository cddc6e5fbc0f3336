"""The limits of deploy/systemd/skrynka.service that a process can put on itself, for tests
that run serve as the unit would without systemd: no core dumps, no new privileges,
MemoryDenyWriteExecute (PR_SET_MDWE, Linux 6.3+) and the unit's system call filter
(libseccomp, EPERM for the rest, as SystemCallErrorNumber=EPERM)."""

from __future__ import annotations

import ctypes
import errno
import resource
import subprocess
from collections.abc import Callable

PR_SET_NO_NEW_PRIVS, PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 38, 65, 66, 1
SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ = 0x7FFF0000, 0x00050000, 4, 7
AF_MAX = 64                 # above every address family Linux knows (46 in 6.x)
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000


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


class _ArgCmp(ctypes.Structure):
    """libseccomp's struct scmp_arg_cmp."""
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


# MemoryDenyWriteExecute= as systemd < 254 (Debian 12) builds it with seccomp, stricter
# than PR_SET_MDWE: no W+X mmap, no mprotect/pkey_mprotect to PROT_EXEC at all, no
# shmat(SHM_EXEC). (syscall, argument, mask): refused when (arg & mask) == mask.
MDWE_RULES = [("mmap", 2, PROT_WRITE | PROT_EXEC), ("mprotect", 2, PROT_EXEC),
              ("pkey_mprotect", 2, PROT_EXEC), ("shmat", 2, SHM_EXEC)]


def _lib() -> ctypes.CDLL:
    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    return lib


def _add(lib: ctypes.CDLL, ctx: int, action: int, name: str, *cmp: _ArgCmp) -> None:
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    if nr < 0:
        return                              # not on this architecture
    args = (_ArgCmp * len(cmp))(*cmp)
    if lib.seccomp_rule_add_array(ctx, action, nr, len(cmp), args) != 0:
        raise OSError(f"seccomp_rule_add {name}")


def _load_filters(syscalls: set[str], families: set[int]) -> None:
    lib = _lib()
    # RestrictAddressFamilies=: socket() of any other family fails with EAFNOSUPPORT
    fams = lib.seccomp_init(SCMP_ACT_ALLOW)
    for family in sorted(set(range(AF_MAX)) - families):
        _add(lib, fams, SCMP_ACT_ERRNO | errno.EAFNOSUPPORT, "socket",
             _ArgCmp(0, SCMP_CMP_EQ, family, 0))
    mdwe = lib.seccomp_init(SCMP_ACT_ALLOW)
    for name, arg, mask in MDWE_RULES:
        _add(lib, mdwe, SCMP_ACT_ERRNO | 1, name, _ArgCmp(arg, SCMP_CMP_MASKED_EQ, mask, mask))
    allow = lib.seccomp_init(SCMP_ACT_ERRNO | 1)   # EPERM
    for name in sorted(syscalls):
        _add(lib, allow, SCMP_ACT_ALLOW, name)
    for ctx in (fams, mdwe, allow):                   # the allow list may not allow seccomp()
        if lib.seccomp_load(ctx) != 0:
            raise OSError("seccomp_load")


def as_the_unit(syscalls: set[str], families: set[int] | None = None) -> Callable[[], None]:
    """For serve's process before exec (inherited by gunicorn): the unit's limits that a
    process can set on itself: no core dumps, no new privileges, MemoryDenyWriteExecute
    (PR_SET_MDWE as systemd >= 254 sets it; with a syscall list also the seccomp rules of
    older systemd), the system call filter (EPERM for the rest, SystemCallErrorNumber=) and
    RestrictAddressFamilies= (``families``), built with libseccomp as systemd builds them.
    Namespaces, mounts and IPAddressDeny= need systemd."""
    def apply() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
        if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_MDWE")
        if syscalls:
            _load_filters(syscalls, families or set(range(AF_MAX)))
    return apply

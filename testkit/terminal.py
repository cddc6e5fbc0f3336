"""A command with a terminal of its own (a pty as its controlling terminal), for the tests
of commands that ask for a passphrase (getpass reads /dev/tty, never a pipe)."""

from __future__ import annotations

import os
import pty
import select
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path

#: Given the newest chunk of output and all output so far: what to type next, or None.
Answer = Callable[[bytes, bytes], "bytes | None"]


def on_terminal(argv: list[str], cwd: Path, answer: Answer,
                env: Mapping[str, str] | None = None, timeout: float = 120) -> tuple[int, str]:
    """Run ``argv`` (argv[0] a path) on a new terminal, typing each answer followed by a
    newline; killed after ``timeout`` seconds. Returns its exit code and its output."""
    pid, fd = pty.fork()
    if pid == 0:  # the child, on the terminal
        try:
            os.chdir(cwd)
            os.execve(argv[0], argv, dict(os.environ if env is None else env))
        finally:
            os._exit(127)
    output, deadline = b"", time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() >= deadline:
                os.kill(pid, signal.SIGKILL)
                break
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child has closed the terminal
                break
            if not chunk:
                break
            output += chunk
            reply = answer(chunk, output)
            if reply is not None:
                os.write(fd, reply + b"\n")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode("utf-8", "replace")

"""A helper process that creates report folders while the main process decrypts.

Writing 10,000 small reports is mostly kernel work: a mkdir and a file creation
per report. A forked child does it on the other core while the parent goes on
opening envelopes. Python threads do not help here: every syscall's return has
to take the GIL back, and those hand-offs cost more than they overlap.

The child only ever creates a report's file (O_EXCL, O_NOFOLLOW, 0600) and, when
asked, the staging folder it is in: exactly what the parent would do inline.
It stops at its first error and reports it at the next ``wait``. Nothing is
durable or visible until the parent's ``Publisher.publish``, which first waits
for the child. Used only where ``os.fork`` exists and the process has a single
thread (forking a threaded process can deadlock on locks other threads hold).
"""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path
from typing import Callable

from keys.errors import OutputError

_RECORD = struct.Struct(">BII")  # kind, len(file path), len(file contents)
_WRITE, _WRITE_MKDIR, _BARRIER, _QUIT = 1, 2, 3, 4
_REPLY = struct.Struct(">I")
Write = Callable[[Path, Path, bytes, bool], None]  # (staging, file, data, make_dir)


def can_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


class ForkWriter:
    """Writes report folders in a child process, in order; see the module docstring."""

    CHUNK_BYTES = 256 * 1024

    def __init__(self, write: Write) -> None:
        to_child, self._to_child = os.pipe()
        self._from_child, from_child = os.pipe()
        _widen(self._to_child)
        self._pending: list[bytes] = []
        self._size = 0
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            status = 1
            try:
                os.close(self._to_child)
                os.close(self._from_child)
                _serve(to_child, from_child, write)
                status = 0
            finally:
                os._exit(status)
        self.pid = pid
        os.close(to_child)
        os.close(from_child)

    def submit(self, file: Path, data: bytes, make_dir: bool) -> None:
        """Write ``data`` to ``file``, creating its folder first if ``make_dir``."""
        path = os.fsencode(file)
        self._pending += [_RECORD.pack(_WRITE_MKDIR if make_dir else _WRITE, len(path),
                                       len(data)), path, data]
        self._size += len(path) + len(data)
        if self._size >= self.CHUNK_BYTES:
            self._send()

    def wait(self) -> None:
        """Return once every submitted report is written; OutputError with the child's
        first error if one failed (nothing after it was written)."""
        self._pending.append(_RECORD.pack(_BARRIER, 0, 0))
        self._send()
        head = self._read(_REPLY.size)
        (length,) = _REPLY.unpack(head)
        if length:
            raise OutputError(self._read(length).decode("utf-8", "replace"))

    def close(self) -> None:
        """Let the child finish what it was sent, then reap it (errors are ignored)."""
        try:
            self._pending.append(_RECORD.pack(_QUIT, 0, 0))
            self._send()
        except OutputError:
            pass
        finally:
            os.close(self._to_child)
            os.close(self._from_child)
            os.waitpid(self.pid, 0)

    def _send(self) -> None:
        view = memoryview(b"".join(self._pending))
        self._pending, self._size = [], 0
        try:
            while view:
                view = view[os.write(self._to_child, view):]
        except OSError:
            raise OutputError("the helper process writing report folders has died") from None

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            more = os.read(self._from_child, size - len(data))
            if not more:
                raise OutputError("the helper process writing report folders has died")
            data += more
        return data


def _widen(fd: int) -> None:
    """Let the parent run up to 1 MiB (about 1,500 reports) ahead of the child (Linux)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass  # the default pipe buffer only means more, shorter waits


def _serve(inp: int, out: int, write: Write) -> None:
    """The child's loop: records in, report folders out, a reply per barrier."""
    buf = bytearray()
    error = ""
    while True:
        more = os.read(inp, 1 << 20)
        if not more:
            return  # the parent is gone
        buf += more
        pos = 0
        while len(buf) - pos >= _RECORD.size:
            kind, path_len, data_len = _RECORD.unpack_from(buf, pos)
            start = pos + _RECORD.size
            end = start + path_len + data_len
            if end > len(buf):
                break
            pos = end
            if kind == _QUIT:
                return
            if kind == _BARRIER:
                reply = error.encode("utf-8")
                os.write(out, _REPLY.pack(len(reply)) + reply)
                error = ""
            elif not error:
                file = Path(os.fsdecode(bytes(buf[start : start + path_len])))
                try:
                    write(file.parent, file, bytes(buf[start + path_len : end]),
                          kind == _WRITE_MKDIR)
                except OutputError as exc:
                    error = exc.message
        del buf[:pos]

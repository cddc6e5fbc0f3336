"""Group commit: reports that arrive while one is being committed share the next commit.

A durable commit costs a write-ahead-log fsync and, with SQLite, the database's
single write lock. Taking that lock from 64 threads in two processes is slow
twice over: SQLite's busy handler *sleeps* (1, 2, 5 … 100 ms) instead of waking
when the lock is free, and each report pays its own fsync. So each process
queues its reports; one thread (the leader) takes everything queued, writes it
in one transaction under a cross-process file lock (``flock`` wakes the next
process as soon as the lock is released), and hands every waiting thread its
own result. A report is acknowledged only after the transaction holding it
committed; if that transaction fails, every report in it gets the error.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

#: Reports per transaction at most; a group this size is still well under a second.
MAX_GROUP = 64


class Ticket(Generic[T]):
    """One item waiting for a commit, and what became of it."""

    __slots__ = ("item", "seq", "error", "done")

    def __init__(self, item: T) -> None:
        self.item = item
        self.seq = 0
        self.error: BaseException | None = None
        self.done = False


class FileLock:
    """An exclusive ``flock`` on a file, opened once per process (never shared by fork)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._pid = 0
        # Made now, not at the first report: a file's birth time is never a report's.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))

    def _open(self) -> int:
        if self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def held(self) -> Iterator[None]:
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = -1, 0


class GroupCommit(Generic[T]):
    """Groups ``submit`` calls from many threads into calls of ``write(group)``.

    ``write`` gets a list of tickets and must set each one's ``seq`` or
    ``error``; if it raises, every ticket it left unset gets that exception.
    """

    def __init__(
        self, write: Callable[[list[Ticket[T]]], None], lock: FileLock | None = None
    ) -> None:
        self._write = write
        self._lock = lock
        self._cond = threading.Condition()
        self._queue: list[Ticket[T]] = []
        self._leader = False

    def submit(self, item: T) -> int:
        """Commit ``item`` (alone or with others); its sequence number, or raise its error."""
        ticket = Ticket(item)
        with self._cond:
            self._queue.append(ticket)
            while not ticket.done:
                if self._leader:
                    self._cond.wait()
                    continue
                self._leader = True  # lead one group (ours is in it unless 64 are ahead)
                group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                self._cond.release()
                try:
                    self._run(group)
                finally:
                    self._cond.acquire()
                    self._leader = False
                    self._cond.notify_all()
        if ticket.error is not None:
            raise ticket.error
        return ticket.seq

    def _run(self, group: list[Ticket[T]]) -> None:
        failure: BaseException | None = None
        try:
            if self._lock is None:
                self._write(group)
            else:
                with self._lock.held():
                    self._write(group)
        except BaseException as exc:
            failure = exc
        finally:
            for ticket in group:
                if ticket.error is None and not ticket.seq:
                    ticket.error = failure or RuntimeError("report left uncommitted")
                ticket.done = True

"""gunicorn's gthread worker with deadlines for slow and stalled clients.

Stock gthread reads a request's headers and body on a blocking socket with no
deadline once the first byte has come: a client trickling a byte a second, or
one that stops halfway, holds a thread for ever, and 64 of them silence the
drop. Here every connection's socket gets two rules:

* **idle**: no single read or write may wait longer than ``IDLE_S``;
* **rate**: once a request has run ``GRACE_S``, it must have brought at least
  ``MIN_RATE`` bytes per second on average since it began.

A voter over Tor uploads at 20-100 KB/s, twenty times the floor, and a Tor
hiccup of up to ``IDLE_S`` is forgiven; a slowloris client is cut after about
``GRACE_S``. A cut connection raises ``TimeoutError`` inside the read, so the
app discards whatever that request had sealed so far: no partial report.
"""

from __future__ import annotations

import errno
import socket
import time
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

IDLE_S = 30.0
GRACE_S = 20.0
MIN_RATE = 1024  # bytes per second, averaged over the request so far


class TooSlow(TimeoutError):
    """The client sends slower than the floor (a slowloris or a dead link)."""


class DeadlineSocket(socket.socket):
    """A client socket whose blocking mode means "block, but not for ever"."""

    started = 0.0
    received = 0

    @classmethod
    def adopt(cls, sock: socket.socket) -> DeadlineSocket:
        family, kind, proto = sock.family, sock.type, sock.proto
        return cls(family, kind, proto, fileno=sock.detach())

    def begin_request(self) -> None:
        self.started = time.monotonic()
        self.received = 0

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(IDLE_S)
        else:
            super().setblocking(False)

    def _check_rate(self) -> None:
        if not self.started or self.gettimeout() == 0.0:
            return  # not inside a request, or non-blocking (the poller's turn)
        elapsed = time.monotonic() - self.started
        if elapsed > GRACE_S and self.received < MIN_RATE * elapsed:
            raise TooSlow("client sends too slowly")

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._check_rate()
        data = super().recv(bufsize, flags)
        self.received += len(data)
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._check_rate()
        n = super().recv_into(buffer, nbytes, flags)
        self.received += n
        return n


class SkrynkaWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, but every client socket is a :class:`DeadlineSocket`, and a worker whose
    threads are all taken stops accepting.

    gthread accepts up to ``worker_connections`` (1,000) and queues requests for its
    threads. With 32 slow uploads holding every thread of one worker, a small report
    that worker happened to accept waited for an upload to finish (12 s in a test),
    while the other worker had 32 idle threads. Counting the requests handed to the
    pool (in the event-loop thread: ``enqueue_req`` and ``finish_request``) and
    reporting no room while they fill it leaves the connection to the other worker.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._handed = 0  # requests given to the thread pool and not yet finished
        super().__init__(*args, **kwargs)

    @property
    def worker_connections(self) -> int:
        """gthread's accept limit, read by its event loop every turn: 0 while all
        threads are taken."""
        return 0 if self._handed >= self.cfg.threads else self._connection_limit

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._connection_limit = value

    def enqueue_req(self, conn: Any) -> None:
        self._handed += 1
        super().enqueue_req(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        self._handed -= 1
        super().finish_request(conn, fs)

    def accept(self, listener: socket.socket) -> None:
        """As gthread's ``accept``, with the client socket adopted first."""
        try:
            client_sock, client_addr = listener.accept()
            self.nr_conns += 1
            sock = DeadlineSocket.adopt(client_sock)
            sock.setblocking(True)
            conn = TConn(self.cfg, sock, client_addr, listener.getsockname())
            self.enqueue_req(conn)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise

    def handle(self, conn: Any) -> Any:
        if isinstance(conn.sock, DeadlineSocket):
            conn.sock.begin_request()
        return super().handle(conn)

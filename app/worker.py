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

These rules bind a thread that reads an upload. Before that, the event loop reads
every request's head, and a small body, without a thread (app/gate.py: a 10 s head
deadline, a cap on concurrent uploads per worker with a localized 503 for the extra
ones): a trickle of bytes on many connections costs sockets, not threads.

Each worker also hardens itself (app/hardening.py: no core dumps, not
dumpable), answers without a ``Server:`` header, and retires after
``max_requests`` (+ jitter) requests without cutting any request short (see
:class:`SkrynkaWorker`): freed memory keeps the bytes of earlier reports, and
only the end of the process returns it to the kernel, which clears it.
"""

from __future__ import annotations

import errno
import mmap
import random
import signal
import socket
import sys
import time
from functools import partial
from typing import Any

from gunicorn.http import wsgi as gunicorn_wsgi
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, ThreadWorker

from app.gate import GateConn, HeadGate, connection_room
from app.hardening import harden_process

IDLE_S = 30.0
GRACE_S = 20.0
MIN_RATE = 1024  # bytes per second, averaged over the request so far
MAX_AGE_S = 600.0  # a worker retires this long after its first request, however quiet


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


def _without_server_header(default_headers: Any) -> Any:
    """gunicorn's Response.default_headers minus its ``Server: gunicorn`` line."""

    def headers(self: Any) -> list[str]:
        return [h for h in default_headers(self) if not h.lower().startswith("server:")]

    headers.__wrapped__ = default_headers  # type: ignore[attr-defined]
    return headers


class SkrynkaWorker(HeadGate, ThreadWorker):  # type: ignore[misc]
    """gthread, but every client socket is a :class:`DeadlineSocket`, a request reaches
    a thread only once its head (and a small body) is in (app/gate.py), a worker whose
    threads are all taken stops accepting, and a worker retires without cutting off
    a request.

    gthread accepts up to ``worker_connections`` (1,000) and queues requests for its
    threads. With 32 slow uploads holding every thread of one worker, a small report
    that worker happened to accept waited for an upload to finish (12 s in a test),
    while the other worker had 32 idle threads. Counting the requests handed to the
    pool (in the event-loop thread: ``enqueue_req`` and ``finish_request``) and
    reporting no room while they fill it leaves the connection to the other worker.

    **Retiring.** gthread's own ``max_requests`` stops the worker and cuts whatever is
    still in flight after ``graceful_timeout``; a 100 MB upload over Tor runs far
    longer. Here the request that reaches the limit (``max_requests`` plus a random
    ``max_requests_jitter``, drawn by gunicorn) answers with ``Connection: close``,
    the worker stops accepting, closes its idle kept-alive connections and exits
    once its last connection is done, however long that takes; it keeps its
    heartbeat meanwhile, so the master does not kill it. On a quiet drop a count
    alone could keep a report's bytes for days: a worker also retires
    ``MAX_AGE_S`` after its first request. A byte in memory shared
    with the master (``retiring``) tells :func:`manage_workers` to start its
    replacement at once.
    """

    max_requests: int  # set by gunicorn's Worker: the limit plus its jitter
    wsgi: Any  # set by gunicorn's Worker.load_wsgi
    _connection_limit: int  # gthread's worker_connections (see the property)
    _retiring = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._handed = 0  # requests given to the thread pool and not yet finished
        self._retiring = False
        self._first_request = 0.0  # monotonic time of the first request, 0 before it
        self.init_gate()
        super().__init__(*args, **kwargs)  # runs in the master, before the fork
        self.retire_after = self.max_requests
        self.max_requests = sys.maxsize  # gthread's own recycling never starts
        self.retiring = mmap.mmap(-1, 1)  # MAP_SHARED: the master reads what we write

    def init_process(self) -> None:
        gunicorn_wsgi.Response.default_headers = _without_server_header(
            gunicorn_wsgi.Response.default_headers)
        self._connection_limit = connection_room(self._connection_limit)
        super().init_process()

    def load_wsgi(self) -> None:
        """Harden before the app exists, after gunicorn has set the worker's user (a
        change of user id resets the dumpable flag)."""
        harden_process()
        super().load_wsgi()
        self.wsgi = self.gate_wsgi(self.wsgi)

    @property
    def worker_connections(self) -> int:
        """gthread's accept limit, read by its event loop every turn: 0 while all
        threads are taken or once the worker retires; sockets still lingering after
        their answer (app/gate.py) count against it, as they hold descriptors."""
        if self._retiring or self._handed >= self.cfg.threads:
            return 0
        return self._connection_limit - self.lingering_count

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._connection_limit = value

    def handle_request(self, req: Any, conn: Any) -> Any:
        """In a pool thread: the request that reaches the limit is the worker's last."""
        if not self._first_request:
            self._first_request = time.monotonic()
        if self.nr + 1 >= self.retire_after:
            self.max_keepalived = 0  # gthread answers "Connection: close" from now on
            self.method_queue.defer(self.retire)
        return super().handle_request(req, conn)

    def retire(self) -> None:
        """In the event loop: stop accepting and tell the master; exit when idle."""
        if self._retiring:
            return
        self._retiring = True
        self.max_keepalived = 0
        self.retiring[0] = 1
        # a request a client is already sending on an idle kept-alive connection is
        # still answered (with "Connection: close"), as when gthread stops
        self._cap_keepalive(time.monotonic() + STOP_KEEPALIVE_LINGER)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        super().wait_for_and_dispatch_events(timeout)
        self.sweep()
        first = self._first_request
        if (not self._retiring and first and self.retire_after < sys.maxsize
                and time.monotonic() - first > MAX_AGE_S):  # max_requests 0: never retire
            self.retire()
        if self._retiring and self.nr_conns <= 0:
            self.alive = False  # nothing in flight: gthread's shutdown has nothing to cut

    def enqueue_req(self, conn: Any) -> None:
        """gthread calls this for a new, kept-alive or read-ahead connection: the gate
        decides whether it goes to a thread now (:meth:`submit`) or waits in the loop."""
        self.route(conn)

    def body_seconds(self, length: int) -> float:
        """How long a small body read by the gate may take: the same floor as here."""
        return GRACE_S + length / MIN_RATE

    def submit(self, conn: Any) -> None:
        self._handed += 1
        super().enqueue_req(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        self._handed -= 1
        self.upload_done(conn)
        super().finish_request(conn, fs)

    def accept(self, listener: socket.socket) -> None:
        """As gthread's ``accept``, with the client socket adopted first."""
        try:
            client_sock, client_addr = listener.accept()
            self.nr_conns += 1
            sock = DeadlineSocket.adopt(client_sock)
            sock.setblocking(True)
            conn = GateConn(self.cfg, sock, client_addr, listener.getsockname(),
                            linger=self.linger)
            self.route(conn)
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                return  # out of descriptors: the client waits in the backlog, nothing dies
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise

    def handle(self, conn: Any) -> Any:
        if isinstance(conn.sock, DeadlineSocket):
            conn.sock.begin_request()
        self.take_head(conn)
        return super().handle(conn)


def is_retiring(worker: Any) -> bool:
    """In the master: whether a worker has announced that it retires."""
    flag = getattr(worker, "retiring", None)
    return isinstance(flag, mmap.mmap) and not flag.closed and flag[0] == 1


def manage_workers(arbiter: Any) -> None:
    """gunicorn's Arbiter.manage_workers, with retiring workers not counted.

    A retiring worker may finish a slow upload for an hour; its replacement starts
    now, and an excess of workers (after ``TTOU`` or a reload) is trimmed only among
    those still serving, so a retiring worker is never sent SIGTERM (which would cut
    its uploads after ``graceful_timeout``).
    """
    serving = sorted(((pid, w) for pid, w in arbiter.WORKERS.items() if not is_retiring(w)),
                     key=lambda item: item[1].age)
    for _ in range(arbiter.num_workers - len(serving)):
        arbiter.spawn_worker()
        time.sleep(0.1 * random.random())  # as gunicorn's spawn_workers
    while len(serving) > arbiter.num_workers:
        pid, _worker = serving.pop(0)
        arbiter.kill_worker(pid, signal.SIGTERM)


def keep_serving_while_retiring(arbiter: Any) -> None:
    """Install :func:`manage_workers` on the arbiter (gunicorn.conf.py's ``on_starting``)."""
    arbiter.manage_workers = partial(manage_workers, arbiter)

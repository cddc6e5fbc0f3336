"""The worker's event loop reads each request's head (and a small body) before any thread.

Stock gthread hands a connection to a pool thread as soon as its first byte arrives,
and the thread then reads the rest of the head blocking: 70 clients that send
``GET / HTTP/1.1\\r\\nHost: `` and nothing more (50 bytes/s in all) held all 64
threads for 30 s at a time and made 7 of 9 probe reports fail (issue 13). Here the
event-loop thread reads every request non-blockingly into a buffer of its own:

* **head**: it must be complete within ``HEAD_S`` (Tor Browser sends a few hundred
  bytes in one go), or the connection is closed; one over ``HEAD_MAX`` gets a bare 431.
* **small body** (at most ``SMALL_BODY``: a text-only report unless its text is very
  long): read in the loop too, within ``GRACE_S + size / MIN_RATE`` (app/worker.py's
  floor), so a trickled body takes no thread either. Held in memory only, as every body.
* **upload** (a larger body, or one of unknown length): handed to the pool with what
  was read; at most ``upload_cap`` of them per worker (the threads minus
  ``SPARE_THREADS``). One more is still handed over, marked busy: the app answers
  it with a localized 503 and ``Retry-After`` without reading the body, and the
  connection is closed.

Only complete requests (and capped uploads) reach a thread, so the threads are left
for work, and slow clients cost a socket and a buffer. The bytes read go back into
gunicorn's parser (its unreader) before the thread parses them. Closing a connection
whose client still sends (the busy answer) lingers in the loop too: gunicorn's
``close_graceful`` would wait up to 2 s in the event-loop thread for the client.
"""

from __future__ import annotations

import contextlib
import resource
import selectors
import socket
import threading
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn

from app.httperrors import BUSY_ENVIRON

HEAD_S = 10.0  # the whole head must arrive within this (from the connection or first byte)
HEAD_MAX = 16 << 10  # bytes; a longer head gets a bare 431
SMALL_BODY = 64 << 10  # bodies up to this are read in the loop; larger ones are uploads
SPARE_THREADS = 8  # threads per worker that uploads can never take
LINGER_S = 2.0  # as gunicorn's close_graceful: wait this long for the client to close
LINGER_MAX = 64 << 10  # and read at most this much of what it still sends
SWEEP_S = 0.25  # how often deadlines are checked
TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s")
TOO_LARGE_TEXT = ("Request headers too large.\nЗагалоўкі запыту занадта вялікія.\n"
                  "Заголовки запроса слишком велики.\n").encode()


FD_SPARE = 128  # descriptors kept for everything but client connections (db, files, pipes)


def connection_room(limit: int) -> int:
    """How many client connections a worker may hold: gunicorn's ``worker_connections``,
    but below its descriptor limit (raised to the hard limit first). Waiting requests
    cost no thread now, so the limit is reached for real, and gthread's accept dies
    on EMFILE, cutting every upload in flight."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        if want > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
                soft = want
            except (OSError, ValueError):
                pass
    return max(1, min(limit, soft - FD_SPARE))


def head_end(buf: bytes | bytearray) -> int | None:
    """Where the head ends (just past its CRLF blank line), or None while it is incomplete.

    Only CRLF counts (browsers send nothing else): a bare-LF blank line that gunicorn's
    parser did not take as the end would leave a thread reading the rest of a head."""
    at = buf.find(b"\r\n\r\n")
    return at + 4 if at >= 0 else None


def body_length(head: bytes | bytearray) -> int | None:
    """The declared body length, or None when it is unknown (chunked, ``Expect``, an
    unclear ``Content-Length``): such a request counts as an upload, which is the safe
    side (an upload takes a capped thread). Header names are matched more loosely than
    gunicorn does (any case, blanks around them), so no header gunicorn takes for a
    length or a chunked body is missed here: a "small" request never makes its thread
    wait for body bytes from the socket."""
    lengths: list[bytes] = []
    for line in bytes(head).split(b"\n")[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        name = name.strip().lower()
        if name in (b"transfer-encoding", b"expect"):
            return None
        if name == b"content-length":
            lengths.append(value.strip())
    if not lengths:
        return 0
    if len(lengths) > 1 or not lengths[0].isdigit() or len(lengths[0]) > 15:
        return None
    return int(lengths[0])


class Arriving:
    """A request still arriving: its bytes so far and its deadline (event loop only)."""

    __slots__ = ("conn", "buf", "deadline", "need", "registered")

    def __init__(self, conn: Any, data: bytes, deadline: float) -> None:
        self.conn = conn
        self.buf = bytearray(data)
        self.deadline = deadline
        self.need: int | None = None  # bytes of head + small body, once the head is in
        self.registered = False  # with the poller


class GateConn(TConn):  # type: ignore[misc]
    """gthread's connection, plus what the gate read for the thread that parses it."""

    def __init__(self, *args: Any, linger: Any = None) -> None:
        super().__init__(*args)
        self.head = b""  # bytes read by the event loop, to be parsed first
        self.ready = False  # handed over by the gate: the next enqueue goes to the pool
        self.upload = False  # counted against the worker's upload cap
        self.busy = False  # an upload over the cap: answered 503 unread
        self._linger = linger

    def close(self, graceful: bool = False) -> None:
        if graceful and self._linger is not None:
            self._linger(self)
        else:
            super().close(graceful)


class HeadGate:
    """Mixin for gthread's ``ThreadWorker``: requests reach a thread only when complete.

    Every method runs in the event-loop thread except :meth:`take_head` (a pool
    thread, on its own connection only), so the counters need no lock.
    """

    cfg: Any
    poller: Any
    nr_conns: int

    def init_gate(self) -> None:
        self._arriving: dict[Any, Arriving] = {}
        self._lingering: dict[Any, tuple[float, list[int]]] = {}
        self._uploads = 0
        self._next_sweep = 0.0
        self._local = threading.local()

    @property
    def lingering_count(self) -> int:
        return len(self._lingering)

    @property
    def upload_cap(self) -> int:
        return max(1, int(self.cfg.threads) - SPARE_THREADS)

    def submit(self, conn: Any) -> None:  # gthread's enqueue_req, provided by the worker
        raise NotImplementedError

    def body_seconds(self, length: int) -> float:  # the worker's rate floor for a body
        raise NotImplementedError

    def route(self, conn: Any) -> None:
        """Where gthread would queue a connection for a thread: a request the gate has
        read goes to the pool; any other (new, kept alive, or with bytes read ahead
        behind its last request) waits in the loop for a complete request."""
        if getattr(conn, "ready", False):
            conn.ready = False
            self.submit(conn)
            return
        data = b""
        if conn.parser is not None:
            data = conn.parser.unreader.take_buffered()
        conn.sock.setblocking(False)
        arriving = Arriving(conn, data, time.monotonic() + HEAD_S)
        self._arriving[conn] = arriving
        if data:
            self._advance(arriving)
        # Read what is there already (a kept-alive socket the poller found readable, a
        # new one whose head came with the connection): most requests never wait for
        # another turn of the loop.
        if self._arriving.get(conn) is arriving:
            self._readable(arriving, None)
        if self._arriving.get(conn) is arriving:
            self.poller.register(conn.sock, selectors.EVENT_READ,
                                 partial(self._readable, arriving))
            arriving.registered = True

    def _readable(self, arriving: Arriving, _sock: Any) -> None:
        try:
            data = arriving.conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(arriving)
            return
        arriving.buf += data
        self._advance(arriving)

    def _advance(self, arriving: Arriving) -> None:
        buf = arriving.buf
        if arriving.need is None:
            end = head_end(buf)
            if end is None:
                if len(buf) > HEAD_MAX:
                    self._refuse_head(arriving)
                return
            length = body_length(buf[:end])
            if length is None or length > SMALL_BODY:
                self._hand_over(arriving, upload=True)
                return
            arriving.need = end + length
            if length:
                arriving.deadline = time.monotonic() + self.body_seconds(length)
        if len(buf) >= arriving.need:
            self._hand_over(arriving, upload=False)

    def _hand_over(self, arriving: Arriving, upload: bool) -> None:
        conn = arriving.conn
        self._forget(arriving)
        conn.head = bytes(arriving.buf)
        conn.busy = upload and self._uploads >= self.upload_cap
        conn.upload = upload and not conn.busy
        self._uploads += conn.upload
        conn.ready = True
        conn.data_ready = True  # gthread's handle must not wait for more data
        self.route(conn)

    def _forget(self, arriving: Arriving) -> None:
        del self._arriving[arriving.conn]
        if arriving.registered:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(arriving.conn.sock)

    def _drop(self, arriving: Arriving) -> None:
        self._forget(arriving)
        self.nr_conns -= 1
        arriving.conn.close()

    def _refuse_head(self, arriving: Arriving) -> None:
        self._forget(arriving)
        self.nr_conns -= 1
        with contextlib.suppress(OSError):
            arriving.conn.sock.send(TOO_LARGE % (len(TOO_LARGE_TEXT), TOO_LARGE_TEXT))
        self.linger(arriving.conn)

    def upload_done(self, conn: Any) -> None:
        """gthread's finish_request is about to run for ``conn``: free its upload slot."""
        if getattr(conn, "upload", False):
            conn.upload = False
            self._uploads -= 1

    def linger(self, conn: Any) -> None:
        """Close after the client has seen our answer: send FIN, read (and drop) what it
        still sends for ``LINGER_S`` or ``LINGER_MAX`` bytes, in the loop, no thread."""
        sock = conn.sock
        try:
            sock.setblocking(False)
            sock.shutdown(socket.SHUT_WR)
            self.poller.register(sock, selectors.EVENT_READ, self._linger_readable)
        except (OSError, KeyError, ValueError):
            sock.close()
            return
        self._lingering[sock] = (time.monotonic() + LINGER_S, [0])

    def _linger_readable(self, sock: Any) -> None:
        _deadline, drained = self._lingering[sock]
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        drained[0] += len(data)
        if not data or drained[0] >= LINGER_MAX:
            self._unlinger(sock)

    def _unlinger(self, sock: Any) -> None:
        del self._lingering[sock]
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(sock)
        sock.close()

    def sweep(self) -> None:
        """Cut requests past their deadline and end lingering closes (every SWEEP_S)."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_S
        for arriving in [a for a in self._arriving.values() if a.deadline < now]:
            self._drop(arriving)
        for sock in [s for s, (deadline, _) in self._lingering.items() if deadline < now]:
            self._unlinger(sock)

    def take_head(self, conn: Any) -> None:
        """In the pool thread: put the gate's bytes back in front of gunicorn's parser."""
        self._local.busy = getattr(conn, "busy", False)
        head = getattr(conn, "head", b"")
        if head:
            conn.head = b""
            conn.init()  # creates the HTTP/1 parser on a new connection
            conn.parser.unreader.unread(head)

    def gate_wsgi(self, app: Any) -> Any:
        """The WSGI app, told (``BUSY_ENVIRON``) when a request is an upload over the cap;
        such a response always closes the connection (gunicorn ignores an app's own
        ``Connection: close``, and would read the unread body to keep it alive)."""

        def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
            if getattr(self._local, "busy", False):
                environ[BUSY_ENVIRON] = True
                force_close = getattr(getattr(start_response, "__self__", None),
                                      "force_close", None)
                if force_close is not None:
                    force_close()
            return app(environ, start_response)

        return wsgi

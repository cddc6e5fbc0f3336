"""A load client that costs little CPU: one request, built once, sent over keep-alive sockets.

The benchmarks charge the server for what it does, so the client must not compete for
the same cores more than it has to: it runs in a process of its own, holds its
``connections`` sockets in one ``selectors`` loop (no threads), sends the same
pre-built request bytes again and again and reads each answer only far enough to know
its status, its length and whether it is the good one.

    load = Load(port, request_bytes(port, "POST", path, body, ctype), count=2000,
                connections=8, good_status=303, good_marker=RECEIPT_LOCATION_RE)
    result = run_load(load)       # in a forked process; never raises on network errors
    result.good, result.statuses, result.client_cpu

Every one of ``count`` requests is attempted once: a refused connection, a reset or a
malformed answer counts as status 0, so a dead server shows as no good answers, fast.
"""

from __future__ import annotations

import multiprocessing
import re
import selectors
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

CRLF = b"\r\n"


def request_bytes(port: int, method: str, path: str, body: bytes, content_type: str) -> bytes:
    """One whole HTTP/1.1 request (keep-alive), headers and body."""
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


@dataclass(frozen=True)
class Load:
    port: int
    request: bytes  # sent as is, ``count`` times
    count: int
    connections: int
    good_status: int
    good_marker: re.Pattern[bytes] | None = None  # a good answer's head or body must match it
    timeout: float = 120.0  # for the whole run; what is still open then counts as 0


@dataclass
class LoadResult:
    statuses: Counter[int] = field(default_factory=Counter)
    good: int = 0
    client_cpu: float = 0.0  # user + system seconds of the client process
    seconds: float = 0.0  # wall clock of the run (information only)


@dataclass(frozen=True)
class Answer:
    status: int
    length: int  # bytes of the whole answer, head included
    close: bool
    body: bytes
    head: bytes = b""  # status line and headers, as received


def parse_answer(buf: bytes | bytearray, eof: bool = False) -> Answer | None:
    """The first whole answer in ``buf``; None while more bytes are needed.

    Knows Content-Length, chunked and (at ``eof``) close-delimited bodies; a malformed
    head raises ValueError."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if eof:
            raise ValueError("connection closed inside the answer's head")
        return None
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x status line: {lines[0]!r}")
    status = int(rest[:3])
    headers = {k.strip().lower(): v.strip().lower()
               for k, _, v in (line.partition(":") for line in lines[1:])}
    close = headers.get("connection") == "close" or version == "HTTP/1.0"
    start = end + 4
    if "content-length" in headers:
        total = start + int(headers["content-length"])
    elif headers.get("transfer-encoding") == "chunked":
        total = _chunked_end(buf, start)
    else:
        total = len(buf) if eof else -1
    if total < 0 or len(buf) < total:
        if eof:
            raise ValueError("connection closed inside the answer's body")
        return None
    return Answer(status, total, close, bytes(buf[start:total]), bytes(buf[:end]))


def _chunked_end(buf: bytes | bytearray, pos: int) -> int:
    """Where a chunked body starting at ``pos`` ends (after its last CRLF); -1 if not yet."""
    while True:
        eol = buf.find(CRLF, pos)
        if eol < 0:
            return -1
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if size == 0:  # no trailers from the servers we drive
            end = eol + 4
            return end if len(buf) >= end else -1
        pos = eol + 2 + size + 2


class _Conn:
    def __init__(self, load: Load) -> None:
        self.sock = socket.create_connection(("127.0.0.1", load.port), timeout=10)
        self.sock.setblocking(False)
        self.out = memoryview(load.request)
        self.buf = bytearray()
        self.eof = False


class _Driver:
    """The selectors loop: each connection sends, reads its answer, sends again."""

    def __init__(self, load: Load, result: LoadResult) -> None:
        self.load, self.result = load, result
        self.left = load.count  # requests not started yet
        self.sel = selectors.DefaultSelector()

    def start_one(self, conn: _Conn | None) -> None:
        """Start the next request, on ``conn`` if it may be reused, else on a new one."""
        while self.left > 0:
            self.left -= 1
            try:
                conn = conn or _Conn(self.load)
            except OSError:
                self.result.statuses[0] += 1
                continue
            conn.out, conn.buf = memoryview(self.load.request), bytearray()
            self.sel.register(conn.sock, selectors.EVENT_WRITE, conn)
            return
        if conn is not None:
            conn.sock.close()

    def finish(self, conn: _Conn, answer: Answer | None) -> None:
        self.sel.unregister(conn.sock)
        if answer is None:
            self.result.statuses[0] += 1
        else:
            self.result.statuses[answer.status] += 1
            marker = self.load.good_marker
            if answer.status == self.load.good_status and (
                    marker is None or marker.search(answer.head + CRLF * 2 + answer.body)):
                self.result.good += 1
        if answer is None or answer.close or conn.eof or len(conn.buf) > answer.length:
            conn.sock.close()  # broken, closing, or more than one answer to one request
            self.start_one(None)
        else:
            self.start_one(conn)

    def step(self, conn: _Conn, events: int) -> None:
        try:
            if events & selectors.EVENT_WRITE:
                sent = conn.sock.send(conn.out)
                conn.out = conn.out[sent:]
                if not conn.out:
                    self.sel.modify(conn.sock, selectors.EVENT_READ, conn)
                return
            data = conn.sock.recv(256 << 10)
            conn.buf += data
            conn.eof = not data
            answer = parse_answer(conn.buf, eof=conn.eof)
        except BlockingIOError:
            return
        except (OSError, ValueError):
            self.finish(conn, None)
            return
        if answer is not None:
            self.finish(conn, answer)
        elif not data:  # closed early, nothing parsable
            self.finish(conn, None)

    def run(self) -> None:
        for _ in range(min(self.load.connections, self.load.count)):
            self.start_one(None)
        deadline = time.monotonic() + self.load.timeout
        while self.sel.get_map() and time.monotonic() < deadline:
            for key, events in self.sel.select(timeout=1.0):
                self.step(key.data, events)
        for key in list(self.sel.get_map().values()):  # out of time: what is open failed
            self.sel.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]
            self.result.statuses[0] += 1
        if self.left:  # never started: out of time
            self.result.statuses[0] += self.left
            self.left = 0
        self.sel.close()


def drive(load: Load) -> LoadResult:
    """Run ``load`` in this process (see :func:`run_load` for a process of its own)."""
    result = LoadResult()
    cpu0, wall0 = time.process_time(), time.monotonic()
    _Driver(load, result).run()
    result.client_cpu = time.process_time() - cpu0
    result.seconds = time.monotonic() - wall0
    return result


def _child(load: Load, conn: Connection) -> None:
    conn.send(drive(load))
    conn.close()


def run_load(load: Load) -> LoadResult:
    """Run ``load`` in a forked process of its own and return what it saw."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(load, child), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(load.timeout + 30):
            raise TimeoutError(f"load client silent after {load.timeout + 30} s")
        result: LoadResult = parent.recv()
    finally:
        parent.close()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join(10)
    return result

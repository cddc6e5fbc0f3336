"""Slow clients against a live server, and a probe voter filing reports meanwhile (issue 13).

    with SlowHeads(port, 800), SlowBodies(port, page, 80, rate=1434):
        probe = Probe(server.port).run(seconds=15)
    probe.failures, probe.p50, probe.p95; attacker.bytes_per_s()

* :class:`SlowHeads`: connections that send ``GET / HTTP/1.1\\r\\nHost: `` and nothing
  more, each reopened as soon as the server cuts it;
* :class:`SlowBodies`: uploads that declare a large body and trickle it at ``rate``
  bytes/s each (above the workers' 1 KiB/s floor, so never cut for slowness); one that
  is answered (a 503 for an upload over the cap) or cut is reopened after ``pause``;
* :class:`Probe`: one voter that fetches the form and files a small report, again and
  again; each attempt's time, status and token are kept (to look for in the store).

Each attacker is one thread with non-blocking sockets, so hundreds cost little CPU.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from testkit.live_client import (
    FilePart,
    FormPage,
    Multipart,
    get_form,
    pattern,
    post,
    rechunk,
    report_fields,
    token,
)

HEAD_PREFIX = b"GET / HTTP/1.1\r\nHost: "


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Attacker:
    """A thread keeping ``count`` connections in some state; counts bytes and reopenings."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.sent = 0
        self.opened = 0
        self.cut = 0  # closed or answered by the server
        self.answers: dict[int, int] = {}  # status -> count of answers read
        self.connect_errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = 0.0
        self._ended = 0.0
        self._sel = selectors.DefaultSelector()

    def __enter__(self) -> _Attacker:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(30)
            self._ended = time.monotonic()

    def bytes_per_s(self) -> float:
        end = self._ended or time.monotonic()
        return self.sent / max(1e-9, end - self._started)

    def _connect(self) -> socket.socket | None:
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            self.connect_errors += 1
            return None
        self.opened += 1
        return s

    def _close(self, s: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(s)
        s.close()

    def _run(self) -> None:
        raise NotImplementedError


class SlowHeads(_Attacker):
    """``count`` connections that send the start of a head and nothing more."""

    def _run(self) -> None:
        live: set[socket.socket] = set()
        while not self._stop.is_set():
            while len(live) < self.count and not self._stop.is_set():
                s = self._connect()
                if s is None:
                    break
                self._sel.register(s, selectors.EVENT_WRITE)
                live.add(s)
            for key, _ in self._sel.select(0.2):
                s = key.fileobj  # type: ignore[assignment]
                if key.events & selectors.EVENT_WRITE:  # connected: say the prefix
                    try:
                        self.sent += s.send(HEAD_PREFIX)
                        self._sel.modify(s, selectors.EVENT_READ)
                        continue
                    except OSError:
                        pass
                else:
                    try:
                        if s.recv(65536):
                            continue
                    except BlockingIOError:
                        continue
                    except OSError:
                        pass
                self.cut += 1
                live.discard(s)
                self._close(s)
        for s in live:
            self._close(s)


@dataclass
class _Upload:
    sock: socket.socket
    chunks: Iterator[bytes]
    started: float
    head_len: int
    pending: bytes
    sent: int = 0
    reply: bytes = b""


class SlowBodies(_Attacker):
    """``count`` uploads of ``size`` bytes, each trickled at ``rate`` bytes/s."""

    def __init__(self, port: int, page: FormPage, count: int, *, rate: float,
                 size: int = 8 << 20, pause: float = 0.5) -> None:
        super().__init__(port, count)
        self.page = page
        self.rate = rate
        self.size = size
        self.pause = pause

    def _upload(self, s: socket.socket, now: float) -> _Upload:
        body = Multipart(self.page.hidden + report_fields("slow body"),
                         [FilePart("attachments", "big.jpg", self.size,
                                   lambda: pattern(7, self.size), "image/jpeg")])
        head = (f"POST {self.page.action} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: {body.content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode()
        return _Upload(s, rechunk(body, 512), now, len(head), head)

    def _run(self) -> None:
        live: dict[socket.socket, _Upload] = {}
        reopen: list[float] = []
        while not self._stop.is_set():
            now = time.monotonic()
            reopen = [t for t in reopen if t > now]  # paused reopenings still to come
            for _ in range(max(0, self.count - len(live) - len(reopen))):
                s = self._connect()
                if s is None:
                    reopen.append(now + self.pause)
                    continue
                live[s] = self._upload(s, now)
                self._sel.register(s, selectors.EVENT_READ)
            for up in list(live.values()):
                self._trickle(up, now, live, reopen)
            for key, _ in self._sel.select(0.05):
                self._answer(live[key.fileobj], live, reopen)  # type: ignore[index]
        for s in list(live):
            self._close(s)

    def _trickle(self, up: _Upload, now: float, live: dict[socket.socket, _Upload],
                 reopen: list[float]) -> None:
        """The head at once (as a browser sends it), the body at ``rate``."""
        allowed = up.head_len + int((now - up.started) * self.rate)
        try:
            while up.sent < allowed:
                if not up.pending:
                    up.pending = next(up.chunks)
                n = up.sock.send(up.pending[: allowed - up.sent])
                self.sent += n
                up.sent += n
                up.pending = up.pending[n:]
        except (BlockingIOError, StopIteration):
            return
        except OSError as exc:
            if exc.errno != errno.ENOTCONN:  # still connecting
                self._end(up, live, reopen)

    def _answer(self, up: _Upload, live: dict[socket.socket, _Upload],
                reopen: list[float]) -> None:
        try:
            data = up.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        up.reply += data
        if data and b"\r\n\r\n" not in up.reply:
            return
        if up.reply.startswith(b"HTTP/1.1 "):
            status = int(up.reply[9:12])
            self.answers[status] = self.answers.get(status, 0) + 1
        self._end(up, live, reopen)

    def _end(self, up: _Upload, live: dict[socket.socket, _Upload],
             reopen: list[float]) -> None:
        self.cut += 1
        live.pop(up.sock, None)
        self._close(up.sock)
        reopen.append(time.monotonic() + self.pause)


@dataclass
class ProbeResult:
    times: list[float] = field(default_factory=list)  # seconds per attempt (form + report)
    failures: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # of the reports that got a receipt

    @property
    def p50(self) -> float:
        return percentile(self.times, 0.5)

    @property
    def p95(self) -> float:
        return percentile(self.times, 0.95)


class Probe:
    """A voter filing small reports one after another: GET the form, POST a report."""

    def __init__(self, port: int, lang: str = "en", timeout: float = 30.0) -> None:
        self.port = port
        self.lang = lang
        self.timeout = timeout

    def once(self, result: ProbeResult) -> None:
        started = time.monotonic()
        tok = token("probe")
        try:
            page = get_form(self.port, self.lang, timeout=self.timeout)
            resp = post(self.port, page.action, Multipart(page.hidden + report_fields(tok)),
                        timeout=self.timeout)
            ok = resp.is_receipt
            why = f"status {resp.status}"
        except Exception as exc:  # a timeout or reset is a failed attempt, not a crash
            ok, why = False, type(exc).__name__
        elapsed = time.monotonic() - started
        result.times.append(elapsed)
        if ok:
            result.tokens.append(tok)
        else:
            result.failures.append(f"{why} after {elapsed:.1f} s")

    def run(self, seconds: float, pause: float = 0.2) -> ProbeResult:
        result = ProbeResult()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.once(result)
            time.sleep(pause)
        return result

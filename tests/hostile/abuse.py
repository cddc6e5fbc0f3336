"""Slow and abusive connections: slowloris headers, trickled and stalled bodies, lying lengths.

Each :class:`Abuser` owns one socket and a plan for what to send on every tick;
:func:`watch` drives them all from one thread and records when the server
answered or closed each one.
"""

from __future__ import annotations

import random
import select
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from testkit.hostile.client import FormPage, connect, make_report, post_bytes

Plan = Callable[[], bytes]  # what to send on this tick (b"" = nothing)


@dataclass
class Abuser:
    kind: str
    sock: socket.socket
    plan: Plan
    opened: float = field(default_factory=time.monotonic)
    ended: float | None = None  # when the server answered or closed
    answer: bytes = b""

    @property
    def cut_after(self) -> float | None:
        return None if self.ended is None else self.ended - self.opened

    @property
    def status(self) -> int | None:
        parts = self.answer.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _trickle(data: bytes, per_tick: int) -> Plan:
    rest = bytearray(data)

    def step() -> bytes:
        out = bytes(rest[:per_tick])
        del rest[:per_tick]
        return out

    return step


def _nothing() -> bytes:
    return b""


def slowloris_headers(port: int) -> Abuser:
    """A request line, then one header byte per tick, for ever."""
    sock = connect(port)
    sock.sendall(f"POST /en/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
    junk = b"".join(b"X-Slow-%d: %d\r\n" % (i, i) for i in range(10_000))
    return Abuser("slowloris_headers", sock, _trickle(junk, 1))


def stalled_headers(port: int, form: FormPage, rng: random.Random) -> Abuser:
    """Half the headers, then silence."""
    data = post_bytes(port, form, make_report(rng, "en"))
    sock = connect(port)
    sock.sendall(data[: data.index(b"\r\n\r\n") // 2])
    return Abuser("stalled_headers", sock, _nothing)


def trickled_body(port: int, form: FormPage, rng: random.Random) -> Abuser:
    """Honest headers, then the body at 2 bytes per tick."""
    data = post_bytes(port, form, make_report(rng, "en", attachment_bytes=200_000))
    head = data.index(b"\r\n\r\n") + 4
    sock = connect(port)
    sock.sendall(data[: head + 500])
    return Abuser("trickled_body", sock, _trickle(data[head + 500 :], 2))


def short_body_stall(port: int, form: FormPage, rng: random.Random) -> Abuser:
    """Content-Length promises the whole body; half of it comes, then silence."""
    data = post_bytes(port, form, make_report(rng, "en", attachment_bytes=400_000))
    sock = connect(port)
    sock.sendall(data[: len(data) // 2])
    return Abuser("short_body_stall", sock, _nothing)


def long_body(port: int, form: FormPage, rng: random.Random) -> Abuser:
    """More body than Content-Length says (the declared part lacks the final boundary)."""
    report = make_report(rng, "en", attachment_bytes=100_000)
    body, ctype = report.body(form)
    head = (f"POST {form.action} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body) - 300}\r\n\r\n").encode()
    sock = connect(port)
    sock.sendall(head + body)
    return Abuser("long_body", sock, _nothing)


def cut_mid_upload(port: int, form: FormPage, rng: random.Random, sent: int = 1 << 20) -> None:
    """Send part of a 3 MiB upload, then close the socket (a voter whose circuit died)."""
    data = post_bytes(port, form, make_report(rng, "en", attachment_bytes=3 << 20))
    sock = connect(port)
    sock.sendall(data[:sent])
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # RST
    sock.close()


def watch(abusers: Sequence[Abuser], seconds: float, tick: float = 1.0,
          until_all_ended: bool = True) -> None:
    """Drive every abuser's plan once per ``tick`` for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    next_tick = time.monotonic()
    while time.monotonic() < deadline:
        live = [a for a in abusers if a.ended is None]
        if not live and until_all_ended:
            return
        now = time.monotonic()
        if now >= next_tick:
            next_tick = now + tick
            for a in live:
                try:
                    chunk = a.plan()
                    if chunk:
                        a.sock.send(chunk)
                except OSError:
                    a.ended = time.monotonic()
        readable, _, _ = select.select([a.sock for a in live if a.ended is None], [], [], 0.1)
        for a in live:
            if a.sock in readable:
                try:
                    data = a.sock.recv(65536)
                except OSError:
                    data = b""
                a.answer += data
                if not data or a.answer:
                    a.ended = a.ended or time.monotonic()


def close_all(abusers: Sequence[Abuser]) -> None:
    for a in abusers:
        a.sock.close()

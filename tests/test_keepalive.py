"""testkit/keepalive.py, the bench's load client: it reads answers right, counts only good
ones, reuses its connections and turns every failure into status 0 (loopback only)."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from testkit.keepalive import Load, drive, parse_answer, request_bytes, run_load
from testkit.liveserver import free_port

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nreceipt"


def test_parse_answer_with_a_length() -> None:
    assert parse_answer(OK[:-1]) is None
    a = parse_answer(OK + b"HTTP/1.1")
    assert a is not None and (a.status, a.length, a.close, a.body) == (200, len(OK), False,
                                                                        b"receipt")


def test_parse_answer_chunked_and_close_delimited() -> None:
    chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    assert parse_answer(chunked[:-2]) is None
    a = parse_answer(chunked)
    assert a is not None and (a.status, a.length) == (201, len(chunked))
    raw = b"HTTP/1.0 400 Bad\r\n\r\nno length"
    assert parse_answer(raw) is None
    b = parse_answer(raw, eof=True)
    assert b is not None and (b.status, b.close, b.body) == (400, True, b"no length")


@pytest.mark.parametrize("raw", [b"garbage\r\n\r\n", b"HTTP/1.1 2", OK[:-2]])
def test_parse_answer_refuses_what_is_not_a_whole_answer_at_eof(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_answer(raw, eof=True)


@contextmanager
def server(answers: list[bytes], close_every: int = 0) -> Iterator[tuple[int, list[int]]]:
    """A loopback server answering each request (head + Content-Length body) with the next
    of ``answers`` in turn; yields its port and a list with its accepted connections."""
    lsock = socket.create_server(("127.0.0.1", free_port()))
    accepted = [0]
    served = [0]
    lock = threading.Lock()

    def handle(conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                with lock:
                    answer = answers[served[0] % len(answers)]
                    served[0] += 1
                conn.sendall(answer)
                if close_every and served[0] % close_every == 0:
                    return

    def accept() -> None:
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            accepted[0] += 1
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield lsock.getsockname()[1], accepted
    finally:
        lsock.close()


def load(port: int, count: int, marker: bytes | None = None) -> Load:
    return Load(port, request_bytes(port, "POST", "/x", b"a=1", "text/plain"), count,
                connections=4, good_status=200,
                good_marker=re.compile(marker) if marker else None, timeout=30)


def test_only_good_answers_count_and_connections_are_kept() -> None:
    bad = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nform"
    gone = b"HTTP/1.1 503 No\r\nContent-Length: 0\r\n\r\n"
    with server([OK, bad, gone, OK]) as (port, accepted):
        res = drive(load(port, 40, rb"receipt"))
    assert res.good == 20
    assert res.statuses == {200: 30, 503: 10}
    assert accepted[0] == 4


def test_a_closing_server_gets_new_connections() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 7\r\n\r\nreceipt"
    with server([closing], close_every=1) as (port, accepted):
        res = run_load(load(port, 12, rb"receipt"))
    assert (res.good, res.statuses) == (12, {200: 12})
    assert accepted[0] == 12
    assert res.client_cpu >= 0 and res.seconds > 0


def test_nothing_listening_is_status_zero_for_every_request() -> None:
    res = run_load(load(free_port(), 25))
    assert (res.good, res.statuses) == (0, {0: 25})

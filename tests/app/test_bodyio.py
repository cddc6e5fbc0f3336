"""app.bodyio: gunicorn's request body read straight from the socket, bookkeeping exact."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader
from werkzeug.exceptions import ClientDisconnected
from werkzeug.wsgi import LimitedStream

from app.bodyio import DirectBody, direct
from app.security import CountingInput
from testkit.live_client import export_and_open, find_report, get_form, report_fields, token
from testkit.liveserver import LiveServer


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.settimeout(5)
    yield a, b
    a.close()
    b.close()


def _body(sock: socket.socket, length: int, held: bytes = b"") -> Body:
    """What gunicorn builds for a request with Content-Length: ``length``; ``held`` is
    what its unreader read along with the headers."""
    unreader = SocketUnreader(sock)
    if held:
        unreader.unread(held)
    return Body(LengthReader(unreader, length))


def _read_all(stream: LimitedStream, step: int) -> bytes:
    out = b""
    while True:
        data = stream.read(step)
        if not data:
            return out
        out += data


def test_the_pinned_gunicorn_body_takes_the_direct_path(pair) -> None:
    """If a gunicorn upgrade renames what bodyio relies on, this fails (not a slowdown)."""
    body = _body(pair[0], 10)
    wrapped = direct(body)
    assert isinstance(wrapped, DirectBody)
    assert wrapped.reader is body.reader and wrapped.unreader is body.reader.unreader
    other = io.BytesIO(b"x")
    assert direct(other) is other


@pytest.mark.parametrize("step", [1, 5, 4096, 1 << 20])
def test_body_exactly_and_the_next_request_left_for_gunicorn(pair, step: int) -> None:
    server, client = pair
    payload = os.urandom(300_000)
    nxt = b"GET /next HTTP/1.1\r\n\r\n"
    # 100 bytes came with the headers; the rest, then a pipelined request, follow
    body = _body(server, len(payload), held=payload[:100])
    sender = threading.Thread(target=client.sendall, args=(payload[100:] + nxt,))
    sender.start()
    stream = LimitedStream(CountingInput(direct(body)), len(payload))
    got = _read_all(stream, step)
    sender.join()
    assert got == payload
    assert body.reader.length == 0 and body.read(10) == b"" and not body.failed
    assert body.reader.unreader.read() == nxt  # where gunicorn parses the next request


def test_pipelined_bytes_held_with_the_headers_stay_for_gunicorn(pair) -> None:
    server, _ = pair
    held = b"name=value" + b"POST / HTTP/1.1\r\n"
    body = _body(server, 10, held=held)
    wrapped = direct(body)
    assert wrapped.read(100) == b"name=value"
    assert wrapped.read(100) == b""
    assert body.reader.unreader.read() == b"POST / HTTP/1.1\r\n"


def test_read_fills_across_short_receives(pair) -> None:
    server, client = pair

    def trickle() -> None:
        for piece in (b"what=a", b"&town=b", b"&x=" + b"y" * 50):
            client.sendall(piece)
            time.sleep(0.05)

    sender = threading.Thread(target=trickle)
    sender.start()
    wrapped = direct(_body(server, 66))
    assert wrapped.read(1000) == b"what=a&town=b&x=" + b"y" * 50  # one call, three recvs
    sender.join()


def test_client_gone_early_is_a_disconnect(pair) -> None:
    server, client = pair
    client.sendall(b"x" * 1000)
    client.close()
    body = _body(server, 5000)
    stream = LimitedStream(CountingInput(direct(body)), 5000)
    with pytest.raises(ClientDisconnected):
        _read_all(stream, 4096)


def test_a_failed_read_marks_the_body_failed(pair) -> None:
    server, _client = pair
    server.settimeout(0.2)
    body = _body(server, 100)
    with pytest.raises(TimeoutError):
        direct(body).readinto(bytearray(100))
    assert body.failed  # gunicorn then closes the connection instead of reusing it


def test_after_readline_the_rest_comes_in_order(pair) -> None:
    server, client = pair
    client.sendall(b"first line\nsecond part")
    body = _body(server, 22)
    assert body.readline() == b"first line\n"
    wrapped = direct(body)
    assert wrapped.read(-1) == b"second part"
    assert body.reader.length == 0


def test_keep_alive_connection_with_short_reads_through_gunicorn(tmp_path: Path) -> None:
    """A urlencoded report that arrives in pieces, then a second on the same
    connection: both stored whole, and the connection stays usable."""
    with LiveServer.start(tmp_path / "srv") as srv:
        page = get_form(srv.port, "be")
        tokens = [token("urlenc-a"), token("urlenc-b")]
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as conn:
            reader = conn.makefile("rb")
            for tok in tokens:
                fields = page.hidden + report_fields(f"Апісанне {tok} ёсць", town="Гродна")
                body = urllib.parse.urlencode(fields).encode("ascii")
                head = (f"POST {page.action} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
                        "Content-Type: application/x-www-form-urlencoded\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n").encode("ascii")
                conn.sendall(head + body[:40])
                for i in range(40, len(body), 97):
                    time.sleep(0.02)
                    conn.sendall(body[i : i + 97])
                status = reader.readline()
                assert b" 200 " in status, status
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                    assert not line.lower().startswith(b"connection: close")
                assert b"receipt" in reader.read(length).lower()
        reports = export_and_open(srv, tmp_path / "b.skb")
    for tok in tokens:
        fields = find_report(reports, tok).fields
        assert fields["description"] == f"Апісанне {tok} ёсць" and fields["town"] == "Гродна"

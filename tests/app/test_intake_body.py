"""app/intake/body.py: bodies read through gunicorn, counted, drained, never parsed elsewhere."""

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
from flask import Flask, request
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader
from werkzeug.exceptions import ClientDisconnected
from werkzeug.wsgi import LimitedStream

from app.httperrors import BadForm
from app.intake.body import CountingInput, GuardedRequest, drain, read_upto
from testkit.live_client import (
    RECEIPT_PATH_RE,
    export_and_open,
    find_report,
    get_form,
    report_fields,
    token,
)
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


@pytest.mark.parametrize("step", [1, 5, 4096, 1 << 20])
def test_body_exactly_and_the_next_request_left_for_gunicorn(pair, step: int) -> None:
    server, client = pair
    payload = os.urandom(300_000)
    nxt = b"GET /next HTTP/1.1\r\n\r\n"
    # 100 bytes came with the headers; the rest, then a pipelined request, follow
    body = _body(server, len(payload), held=payload[:100])
    sender = threading.Thread(target=client.sendall, args=(payload[100:] + nxt,))
    sender.start()
    counted = CountingInput(body)
    got = _read_all(LimitedStream(counted, len(payload)), step)
    sender.join()
    assert got == payload and counted.count == len(payload)
    assert body.reader.length == 0 and body.read(10) == b""
    assert body.reader.unreader.read() == nxt  # where gunicorn parses the next request


def test_read_upto_fills_across_short_receives(pair) -> None:
    server, client = pair

    def trickle() -> None:
        for piece in (b"what=a", b"&town=b", b"&x=" + b"y" * 50):
            client.sendall(piece)
            time.sleep(0.05)

    sender = threading.Thread(target=trickle)
    sender.start()
    body = _body(server, 66)
    assert read_upto(body, 1000) == b"what=a&town=b&x=" + b"y" * 50  # one call, three recvs
    sender.join()


def test_client_gone_early_is_a_disconnect(pair) -> None:
    server, client = pair
    client.sendall(b"x" * 1000)
    client.close()
    stream = LimitedStream(CountingInput(_body(server, 5000)), 5000)
    with pytest.raises(ClientDisconnected):
        _read_all(stream, 4096)


def test_bad_framing_is_a_400_and_io_errors_pass_through() -> None:
    class Broken(io.RawIOBase):
        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        def read(self, size: int = -1) -> bytes:
            raise self.exc

    with pytest.raises(BadForm):
        CountingInput(Broken(RuntimeError("bad chunk size"))).read(10)
    with pytest.raises(TimeoutError):
        CountingInput(Broken(TimeoutError())).read(10)


def _environ(body: bytes, declared: int | None, read: int = 0) -> dict[str, object]:
    inp = CountingInput(io.BytesIO(body))
    inp.read(read)
    env: dict[str, object] = {"wsgi.input": inp}
    if declared is not None:
        env["CONTENT_LENGTH"] = str(declared)
    return env


def test_drain_reads_what_is_left_within_its_bounds() -> None:
    env = _environ(b"a" * 50_000, 50_000, read=10_000)
    assert drain(env, 100_000, 5.0)
    assert env["wsgi.input"].count == 50_000  # type: ignore[union-attr]
    too_big = _environ(b"b" * 1000, 10**9)
    assert not drain(too_big, 100_000, 5.0)  # over the bound: not even started
    assert too_big["wsgi.input"].count == 0  # type: ignore[union-attr]
    assert drain(_environ(b"c" * 10, None), 100, 5.0)  # no length, not terminated: nothing


def test_request_form_refuses_to_parse(app: Flask) -> None:
    """Only app.intake reads bodies: werkzeug's parser (which spools files over 500 KiB
    to disk) is switched off, so a stray ``request.form`` is a 400, not a temp file."""
    body = b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n"
    body += b"z" * 600_000 + b"\r\n--b--\r\n"
    with app.test_request_context("/en/", method="POST", data=body,
                                  content_type="multipart/form-data; boundary=b"):
        assert isinstance(request._get_current_object(), GuardedRequest)
        with pytest.raises(BadForm):
            _ = request.form
        with pytest.raises(BadForm):
            _ = request.files


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
                assert b" 303 " in status, status
                length, location = 0, b""
                while (line := reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                    if line.lower().startswith(b"location:"):
                        location = line.split(b":", 1)[1].strip()
                    assert not line.lower().startswith(b"connection: close")
                reader.read(length)
                assert RECEIPT_PATH_RE.fullmatch(location.decode()), location
        reports = export_and_open(srv, tmp_path / "b.skb")
    for tok in tokens:
        fields = find_report(reports, tok).fields
        assert fields["description"] == f"Апісанне {tok} ёсць" and fields["town"] == "Гродна"

"""app/gate.py on a real gunicorn: what the event loop reads before a thread gets a request."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest

from testkit.live_client import Multipart, get_form, report_fields, token
from testkit.liveserver import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer.start(tmp_path_factory.mktemp("gate")) as srv:
        yield srv


def _connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _read_answers(s: socket.socket, count: int) -> list[bytes]:
    """``count`` whole answers (each with a Content-Length) from one connection."""
    buf, answers = b"", []
    while len(answers) < count:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buf[:head_end].decode("latin-1").lower()
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            if len(buf) >= head_end + 4 + length:
                answers.append(buf[: head_end + 4 + length])
                buf = buf[head_end + 4 + length :]
                continue
        chunk = s.recv(65536)
        assert chunk, f"closed after {len(answers)} answers"
        buf += chunk
    return answers


def _get(server: LiveServer, path: str = "/en/safety") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()


def test_pipelined_and_kept_alive_requests_are_all_answered(server: LiveServer) -> None:
    with _connect(server) as s:
        s.sendall(_get(server) + _get(server, "/ru/safety") + _get(server)[:20])
        time.sleep(0.3)  # the third head arrives in two pieces
        s.sendall(_get(server)[20:])
        answers = _read_answers(s, 3)
        time.sleep(0.5)  # an idle kept-alive connection, then one more
        s.sendall(_get(server))
        answers += _read_answers(s, 1)
    assert [a.split(b" ", 2)[1] for a in answers] == [b"200"] * 4
    assert b'lang="ru"' in answers[1]


def test_a_head_over_the_cap_gets_431_and_is_closed(server: LiveServer) -> None:
    with _connect(server) as s:
        s.sendall(b"GET / HTTP/1.1\r\nX-Junk: " + b"a" * (20 << 10))
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 431 ")


def test_a_trickled_small_report_gets_its_receipt(server: LiveServer) -> None:
    """A small body is read by the event loop as it comes, then sealed in a thread."""
    page = get_form(server.port, "en")
    form = Multipart(page.hidden + report_fields(token("trickled")))
    body, ctype = b"".join(form), form.content_type
    head = (f"POST {page.action} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with _connect(server) as s:
        data = head + body
        for i in range(0, len(data), 300):
            s.sendall(data[i : i + 300])
            time.sleep(0.05)
        answer = _read_answers(s, 1)[0]
    # Stored: the answer is the See Other to the receipt page (app/views.py).
    assert answer.split(b" ", 2)[1] == b"303", answer[:200]
    assert re.search(rb"(?im)^location: [^\r\n]*/en/receipt/[0-9A-Z-]+\r$", answer), answer[:400]

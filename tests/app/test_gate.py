"""app/gate.py: what the worker's event loop reads before a thread, and the busy page."""

from __future__ import annotations

import io

import pytest
from flask import Flask

from app import gate
from app.httperrors import BUSY_ENVIRON
from tests.app.helpers import has_message


def test_gunicorn_internals_the_gate_relies_on() -> None:
    """The gate puts its bytes back into gunicorn's unreader and takes read-ahead out of
    it, and hooks gthread's enqueue_req/finish_request/handle: pinned to gunicorn 27."""
    import gunicorn
    from gunicorn.http.unreader import Unreader
    from gunicorn.workers.gthread import TConn, ThreadWorker

    assert gunicorn.version_info[0] == 27, gunicorn.__version__
    for name in ("unread", "take_buffered"):
        assert callable(getattr(Unreader, name))
    for name in ("enqueue_req", "finish_request", "handle", "on_client_socket_readable",
                 "handle_request", "wait_for_and_dispatch_events"):
        assert callable(getattr(ThreadWorker, name))
    assert callable(TConn.init) and callable(TConn.close)

    class Fake(Unreader):  # type: ignore[misc]
        def chunk(self, size_hint: int | None = None) -> bytes:
            return b""

    u = Fake()
    u.unread(b"GET / HTTP/1.1\r\n\r\nnext")
    assert u.read(18) == b"GET / HTTP/1.1\r\n\r\n"
    assert u.take_buffered() == b"next" and u.take_buffered() == b""


@pytest.mark.parametrize(("raw", "end"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody", 27),
    (b"GET / HTTP/1.1\r\nHost: ", None),
    (b"GET / HTTP/1.1\r\nHost: x\r\n", None),
    (b"GET / HTTP/1.1\nHost: x\n\n", None),  # bare LF never ends a head here
])
def test_head_end(raw: bytes, end: int | None) -> None:
    assert gate.head_end(raw) == end


@pytest.mark.parametrize(("head", "length"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0),
    (b"POST / HTTP/1.1\r\nContent-Length: 1234\r\n\r\n", 1234),
    (b"POST / HTTP/1.1\r\ncontent-length:  0 \r\n\r\n", 0),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", None),
    (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", None),
    (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", None),
    (b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", None),
    (b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", None),
    (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", None),
    (b"POST / HTTP/1.1\r\nContent-Length: 9999999999999999\r\n\r\n", None),
    (b"POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\n", 5),  # looser than gunicorn
    (b"POST / HTTP/1.1\r\nX: a\r\n transfer-encoding: chunked\r\n\r\n", None),
])
def test_body_length_is_known_or_the_request_is_an_upload(head: bytes,
                                                          length: int | None) -> None:
    assert gate.body_length(head) == length


def test_uploads_never_take_the_spare_threads() -> None:
    from types import SimpleNamespace

    g = gate.HeadGate()
    g.cfg = SimpleNamespace(threads=40)
    assert g.upload_cap == 40 - gate.SPARE_THREADS
    g.cfg = SimpleNamespace(threads=4)
    assert g.upload_cap == 1


class Unreadable(io.BytesIO):
    """A request body that must not be read."""

    def _refuse(self, *args: object) -> bytes:
        raise AssertionError("the busy page read the body")

    read = read1 = readline = readinto = _refuse  # type: ignore[assignment]


@pytest.mark.parametrize("lang", ["be", "ru", "en"])
def test_busy_upload_gets_the_localized_503_unread(app: Flask, lang: str) -> None:
    """The worker marks an upload over its cap; the app answers at once: 503 with
    Retry-After, Connection: close, no script, and the body is never read."""
    client = app.test_client()
    resp = client.post(f"/{lang}/", input_stream=Unreadable(),
                       content_type="multipart/form-data; boundary=x",
                       headers={"Content-Length": str(50 << 20)},
                       environ_base={BUSY_ENVIRON: True})
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "60"
    assert resp.headers["Connection"] == "close"
    assert has_message(resp, app, lang, "error.503_busy")
    assert f'<html lang="{lang}">' in resp.get_data(as_text=True)
    assert "<script" not in resp.get_data(as_text=True)
    # the same request without the mark is not refused as busy
    assert client.get(f"/{lang}/").status_code == 200


def test_connections_stay_under_the_descriptor_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """gthread's accept dies on EMFILE (cutting every upload of the worker): the soft
    limit is raised to the hard one, and the connection limit kept below it."""
    import resource

    limits = {"soft": 1024, "hard": 4096}
    monkeypatch.setattr(resource, "getrlimit", lambda _r: (limits["soft"], limits["hard"]))

    def setrlimit(_r: int, pair: tuple[int, int]) -> None:
        limits["soft"] = pair[0]

    monkeypatch.setattr(resource, "setrlimit", setrlimit)
    assert gate.connection_room(1000) == 1000 and limits["soft"] == 4096
    limits.update(soft=512, hard=512)
    assert gate.connection_room(1000) == 512 - gate.FD_SPARE

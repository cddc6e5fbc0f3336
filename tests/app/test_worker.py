"""app.worker: client sockets that block, but not for ever."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from app import worker


@pytest.fixture
def pair(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(worker, "IDLE_S", 0.5)
    monkeypatch.setattr(worker, "GRACE_S", 0.6)
    monkeypatch.setattr(worker, "MIN_RATE", 1000)
    a, b = socket.socketpair()
    server = worker.DeadlineSocket.adopt(a)
    server.setblocking(True)
    server.begin_request()
    yield server, b
    server.close()
    b.close()


def test_blocking_means_idle_timeout(pair) -> None:
    server, _client = pair
    assert server.gettimeout() == 0.5
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        server.recv(10)  # the client says nothing
    assert 0.4 < time.monotonic() - started < 3


def test_non_blocking_stays_non_blocking(pair) -> None:
    server, _client = pair
    server.setblocking(False)
    assert server.gettimeout() == 0.0
    with pytest.raises(BlockingIOError):
        server.recv(10)


def test_trickling_client_is_cut_after_grace(pair) -> None:
    server, client = pair
    stop = threading.Event()

    def trickle() -> None:
        while not stop.is_set():
            try:
                client.send(b"x")
            except OSError:
                return
            time.sleep(0.05)  # 20 bytes/s, far under the floor

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(worker.TooSlow):
            while True:
                server.recv(100)
    finally:
        stop.set()
        thread.join(2)
    assert 0.6 <= time.monotonic() - started < 3


def test_fast_client_is_never_cut(pair) -> None:
    server, client = pair
    deadline = time.monotonic() + 1.5  # well past the grace period
    got = 0
    while time.monotonic() < deadline:
        client.send(b"y" * 4096)
        got += len(server.recv(65536))
    assert got > 1000 * 1.5


def test_new_request_restarts_the_clock(pair) -> None:
    server, client = pair
    time.sleep(0.8)  # an idle keep-alive pause between requests is not "slow"
    server.begin_request()
    client.send(b"GET / HTTP/1.1\r\n")
    assert server.recv(100)


def test_a_worker_with_every_thread_taken_stops_accepting(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """gthread's event loop accepts while ``nr_conns < worker_connections``: ours reads 0
    while as many requests as threads are in the pool, so another worker takes the next."""
    from types import SimpleNamespace

    from gunicorn.workers.gthread import ThreadWorker

    handed: list[object] = []
    monkeypatch.setattr(ThreadWorker, "enqueue_req", lambda self, conn: handed.append(conn))
    monkeypatch.setattr(ThreadWorker, "finish_request", lambda self, conn, fs: handed.remove(conn))
    w = worker.SkrynkaWorker.__new__(worker.SkrynkaWorker)
    w._handed = 0
    w.cfg = SimpleNamespace(threads=2)
    w.worker_connections = 1000  # what gthread's __init__ sets
    assert w.worker_connections == 1000
    w.enqueue_req("a")
    assert w.worker_connections == 1000
    w.enqueue_req("b")
    assert w.worker_connections == 0 and handed == ["a", "b"]
    w.finish_request("a", None)
    assert w.worker_connections == 1000 and handed == ["b"]

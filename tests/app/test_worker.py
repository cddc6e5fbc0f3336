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
    w.init_gate()
    w.cfg = SimpleNamespace(threads=2)
    w.worker_connections = 1000  # what gthread's __init__ sets
    assert w.worker_connections == 1000
    w.submit("a")
    assert w.worker_connections == 1000
    w.submit("b")
    assert w.worker_connections == 0 and handed == ["a", "b"]
    w.finish_request("a", None)
    assert w.worker_connections == 1000 and handed == ["b"]


def test_harden_process_makes_a_process_undumpable_without_core_files() -> None:
    """Seen from outside: a dumpable process's /proc/PID/status belongs to its user, a
    non-dumpable one's to root; /proc/PID/limits shows the core limit."""
    import os

    from app import hardening

    if os.geteuid() != 0:
        pytest.skip("needs root to run the child as another user")
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a plain dumpable process of user 65534, then hardened
        try:
            os.close(to_child_w)
            os.close(to_parent_r)
            os.setgid(65534)
            os.setuid(65534)
            hardening._prctl(hardening.PR_SET_DUMPABLE, 1)
            os.write(to_parent_w, b"a")
            os.read(to_child_r, 1)
            hardening.harden_process()
            os.write(to_parent_w, b"b" if hardening.is_dumpable() is False else b"x")
            os.read(to_child_r, 1)
        except BaseException as exc:
            os.write(to_parent_w, repr(exc).encode())
        finally:
            os._exit(0)
    os.close(to_parent_w)  # a child that dies early gives EOF, not a hang
    os.close(to_child_r)
    try:
        assert os.read(to_parent_r, 200) == b"a"
        assert os.stat(f"/proc/{pid}/status").st_uid == 65534
        os.write(to_child_w, b"1")
        assert os.read(to_parent_r, 200) == b"b"
        assert os.stat(f"/proc/{pid}/status").st_uid == 0
        with open(f"/proc/{pid}/limits") as limits:
            line = next(x for x in limits if x.startswith("Max core file size"))
        assert line.split()[4:6] == ["0", "0"]
    finally:
        os.close(to_child_w)
        os.close(to_parent_r)
        os.waitpid(pid, 0)


def test_responses_carry_no_server_header() -> None:
    class Fake:
        def default_headers(self) -> list[str]:
            return ["HTTP/1.1 200 OK\r\n", "Server: gunicorn\r\n", "Date: x\r\n",
                    "Connection: close\r\n"]

    headers = worker._without_server_header(Fake.default_headers)(Fake())
    assert headers == ["HTTP/1.1 200 OK\r\n", "Date: x\r\n", "Connection: close\r\n"]


def test_the_master_replaces_a_retiring_worker_and_never_stops_it() -> None:
    import mmap
    import signal
    from types import SimpleNamespace

    def fake(age: int, retiring: bool) -> SimpleNamespace:
        flag = mmap.mmap(-1, 1)
        flag[0] = int(retiring)
        return SimpleNamespace(age=age, retiring=flag)

    spawned: list[int] = []
    killed: list[tuple[int, int]] = []
    arbiter = SimpleNamespace(
        WORKERS={10: fake(1, True), 11: fake(2, False)}, num_workers=2,
        spawn_worker=lambda: spawned.append(1), kill_worker=lambda p, s: killed.append((p, s)))
    worker.manage_workers(arbiter)
    assert spawned == [1] and killed == []  # 11 serves; 10 drains while its successor starts

    arbiter.WORKERS = {10: fake(1, True), 11: fake(2, False), 12: fake(3, False),
                       13: fake(4, False)}
    worker.manage_workers(arbiter)
    assert spawned == [1] and killed == [(11, signal.SIGTERM)]  # the oldest *serving* one

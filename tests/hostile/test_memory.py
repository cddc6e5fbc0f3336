"""Less to take from a running server (issue 13): read the real processes, not the settings.

A real gunicorn (gunicorn.conf.py, app/worker.py) serves the real app behind a
test-only probe (tests/hostile/memprobe.py). The tests read what an attacker on the
machine would read: ``/proc/<pid>/limits``, the raw HTTP answer, and every readable
byte of every gunicorn process through ``/proc/<pid>/mem`` (the suite runs as root).
"""

from __future__ import annotations

import os
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.live_client import Multipart, get, get_form, post, report_fields, token
from testkit.liveserver import LiveServer
from testkit.memscan import find_in_memory
from testkit.procfs import alive

REQUESTS, JITTER = 40, 10  # a worker retires after 40-50 requests here
RECYCLE_BOUND = 40.0  # seconds to drive every canary-holding worker to retire
CANARIES = 4

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="reads other processes' memory")


class ProbeServer(LiveServer):
    wsgi_app = "tests.hostile.memprobe:app"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """The server starts with core dumps allowed by its parent: it must forbid them itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    try:
        args = f"--max-requests {REQUESTS} --max-requests-jitter {JITTER}"
        with ProbeServer.start(tmp_path, extra_env={"GUNICORN_CMD_ARGS": args}) as srv:
            resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))
            yield srv
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


def workers(srv: LiveServer) -> list[int]:
    return srv.pids()[1:]


def wait_for_workers(srv: LiveServer, count: int = 2) -> list[int]:
    deadline = time.monotonic() + 30
    while len(pids := workers(srv)) < count:
        assert time.monotonic() < deadline, f"only workers {pids}"
        time.sleep(0.1)
    return pids


def ask(srv: LiveServer, path: str) -> str:
    resp = get(srv.port, path, headers={"Connection": "close"}, timeout=30)
    assert resp.status == 200, (path, resp.status)
    return resp.text


def probe_every_worker(srv: LiveServer) -> dict[int, str]:
    """``/__probe/self`` from each current worker (connections spread over them)."""
    answers: dict[int, str] = {}
    deadline = time.monotonic() + 20
    while set(answers) < set(workers(srv)) and time.monotonic() < deadline:
        pid, dumpable = ask(srv, "/__probe/self").split()
        answers[int(pid)] = dumpable
    assert set(answers) >= set(workers(srv)), (answers, workers(srv))
    return answers


def core_limit_line(pid: int) -> list[str]:
    with open(f"/proc/{pid}/limits") as limits:
        line = next(x for x in limits if x.startswith("Max core file size"))
    return line.split()[4:6]


def test_processes_forbid_core_dumps_and_ptrace_and_answer_without_server_header(
        server: LiveServer) -> None:
    wait_for_workers(server)
    for pid in server.pids():  # master and workers
        assert core_limit_line(pid) == ["0", "0"], pid
    assert set(probe_every_worker(server).values()) == {"0"}  # PR_GET_DUMPABLE

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /en/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower().split("\r\n")
    assert head[0].startswith("http/1.1 200"), head[0]
    assert not [h for h in head if h.startswith("server:")], head
    assert b"gunicorn" not in raw.lower()


def send_canary_reports(srv: LiveServer) -> list[bytes]:
    page = get_form(srv.port, "en")
    canaries = []
    for _ in range(CANARIES):
        canary = token("CANARY")
        resp = post(srv.port, page.action, Multipart(page.hidden + report_fields(canary)))
        assert resp.is_receipt, resp.status
        canaries.append(canary.encode())
    return canaries


def test_no_report_left_in_memory_once_its_worker_recycled(server: LiveServer) -> None:
    marker = token("KEPT").encode()
    kept_by = int(ask(server, "/__probe/keep/" + marker.decode()))
    assert find_in_memory(kept_by, [marker]) == {marker}  # the scan sees what is there

    canaries = send_canary_reports(server)
    held = wait_for_workers(server)
    before = set().union(*(find_in_memory(p, canaries) for p in held))
    print(f"before recycling: {len(before)} of {len(canaries)} canaries in worker memory")
    assert before  # freed memory keeps a report's bytes: what recycling is for

    started = time.monotonic()
    requests = 0
    while any(alive(p) for p in held):
        assert time.monotonic() - started < RECYCLE_BOUND, f"{held} still alive"
        ask(server, "/en/")
        requests += 1
    print(f"recycled after {requests} requests in {time.monotonic() - started:.1f} s")

    scanned = server.pids()
    assert len(scanned) >= 3 and not set(scanned) & set(held)
    left = {pid: find_in_memory(pid, [*canaries, marker]) for pid in scanned}
    assert not any(left.values()), left


def test_long_answers_do_not_outlive_their_request_in_freed_memory(tmp_path: Path) -> None:
    """Between recyclings: a report's longer strings (over 512 bytes, which Python
    allocates with malloc) are overwritten when freed (app/hardening.py,
    ``mallopt(M_PERTURB)``). Without it, half of these canaries were still in the
    worker's memory 30 reports later; recycling is off here, so only that can help."""
    args = "--max-requests 0 --workers 1"
    with LiveServer.start(tmp_path, extra_env={"GUNICORN_CMD_ARGS": args}) as srv:
        page = get_form(srv.port, "en")
        canaries = []
        for _ in range(6):
            canary = token("LONGCANARY") + " свабодныя выбары" * 120  # ~2 KB of text
            resp = post(srv.port, page.action, Multipart(page.hidden + report_fields(canary)))
            assert resp.is_receipt, resp.status
            canaries.append(canary[:48].encode())
        for _ in range(30):
            filler = token("filler") + " y" * 800
            assert post(srv.port, page.action,
                        Multipart(page.hidden + report_fields(filler))).is_receipt
        marker = token("HELD").encode() * 40  # held by this test's own probe: must be found
        assert find_in_memory(os.getpid(), [marker]) == {marker}
        left = set().union(*(find_in_memory(pid, canaries) for pid in srv.pids()))
        assert left == set(), f"{len(left)} of {len(canaries)} long answers still in memory"

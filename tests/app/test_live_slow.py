"""Slow voters don't block others: 32 crawling uploads in flight, small reports still pass."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.live_client import (
    FilePart,
    Multipart,
    Response,
    export_and_open,
    get_form,
    pattern,
    post,
    report_fields,
    token,
)
from testkit.liveserver import LiveServer
from testkit.slowloris import ProbeResult

SLOW = 32
SLOW_BYTES = 300_000  # per slow upload, at ~25 KB/s: about 12 s each
SLOW_RATE = 25_000.0
SMALL_WINDOW = 8.0  # seconds of small reports while every slow upload is in flight
SMALL_BOUND = 10.0  # each small report must have its receipt within this


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer.start(tmp_path) as srv:
        yield srv


@pytest.mark.slow
def test_32_slow_uploads_do_not_block_small_reports(server: LiveServer, tmp_path: Path) -> None:
    page = get_form(server.port, "be")
    slow_tokens = [token(f"slow{i}") for i in range(SLOW)]
    slow_results: list[Response | BaseException | None] = [None] * SLOW
    slow_done = [0.0] * SLOW
    progress = [0] * SLOW

    def slow_body(i: int) -> Multipart:
        part = FilePart("attachments", f"photo{i}.jpg", SLOW_BYTES,
                        lambda: pattern(900 + i, SLOW_BYTES), "image/jpeg")
        return Multipart(page.hidden + report_fields("slow " + slow_tokens[i]), [part])

    bodies = [slow_body(i) for i in range(SLOW)]
    lengths = [len(b) for b in bodies]

    def slow_voter(i: int) -> None:
        body = bodies[i]

        def sent(n: int) -> None:
            progress[i] = n

        try:
            slow_results[i] = post(server.port, page.action, body, rate=SLOW_RATE,
                                   on_sent=sent, timeout=120)
        except BaseException as exc:  # recorded and asserted below
            slow_results[i] = exc
        slow_done[i] = time.monotonic()

    threads = [threading.Thread(target=slow_voter, args=(i,), daemon=True) for i in range(SLOW)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while min(progress) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert min(progress) > 0, "not every slow upload got going"

    small_tokens: list[str] = []
    small: list[Response] = []
    small_done: list[float] = []
    window_end = time.monotonic() + SMALL_WINDOW
    while time.monotonic() < window_end:
        tok = token("small")
        small_tokens.append(tok)
        small.append(post(server.port, page.action,
                          Multipart(page.hidden + report_fields("small " + tok)),
                          timeout=SMALL_BOUND + 20))
        small_done.append(time.monotonic())

    receipts = [r for r in small if r.is_receipt]
    assert len(receipts) == len(small) >= 3, [(r.status, r.elapsed) for r in small]
    slowest = max(r.elapsed for r in small)
    assert slowest < SMALL_BOUND, f"a small report took {slowest:.1f} s"

    for t in threads:
        t.join(90)
    for i, res in enumerate(slow_results):
        assert isinstance(res, Response), f"slow upload {i}: {res!r}"
        assert res.is_receipt and res.sent == lengths[i], (
            i, res.status, res.sent, res.send_error)
    # at least three small reports were acknowledged while all 32 were still uploading
    overlapped = sum(1 for done in small_done if done < min(slow_done))
    assert overlapped >= 3, f"only {overlapped} small reports overlapped all slow uploads"

    reports = export_and_open(server, tmp_path / "batch.skb")
    descriptions = [str(r.fields["description"]) for r in reports]
    assert len(reports) == SLOW + len(small)
    for tok in slow_tokens + small_tokens:
        assert sum(tok in d for d in descriptions) == 1, tok
    sizes = sorted(a["size"] for r in reports for a in r.report["attachments"])
    assert sizes == [SLOW_BYTES] * SLOW


# --- issue 13: a trickle of bytes must not silence the drop --------------------------------

PROBE_S = 15.0  # longer than the gate's head deadline, so every slow head is cut and reopened
PROBE_BOUND = 10.0  # each probe (form + report) must have its receipt within this
TRICKLE_RATE = 1434.0  # bytes/s per slow upload: 1.4 KiB/s, above the workers' 1 KiB/s floor


def _pool() -> tuple[int, int]:
    """(workers, threads per worker) as gunicorn.conf.py sets them."""
    import re

    from testkit.liveserver import ROOT

    text = (ROOT / "gunicorn.conf.py").read_text()
    found = [re.search(rf"^{name} = (\d+)", text, re.M) for name in ("workers", "threads")]
    assert found[0] and found[1], "workers/threads not found in gunicorn.conf.py"
    return int(found[0].group(1)), int(found[1].group(1))


def _probe(server: LiveServer) -> ProbeResult:
    from testkit.slowloris import Probe

    return Probe(server.port, "en", timeout=PROBE_BOUND + 10).run(PROBE_S)


def _check(server: LiveServer, tmp_path: Path, result: ProbeResult, attacker: object) -> None:
    """Every probe got its receipt within the bound, and its report is in the store."""
    print(f"probe: {len(result.times)} attempts, p50 {result.p50:.2f} s, p95 "
          f"{result.p95:.2f} s, attacker {attacker.bytes_per_s():.0f} B/s")  # type: ignore
    assert not result.failures, result.failures
    assert len(result.times) >= 5
    slowest = max(result.times)
    assert slowest < PROBE_BOUND, f"a probe report took {slowest:.1f} s"
    reports = export_and_open(server, tmp_path / "batch.skb")
    descriptions = [str(r.fields["description"]) for r in reports]
    assert len(reports) == len(result.tokens)  # nothing of the attack was stored
    for tok in result.tokens:
        assert sum(tok in d for d in descriptions) == 1, tok


@pytest.mark.slow
def test_slow_heads_ten_times_the_threads_do_not_silence_the_drop(
        server: LiveServer, tmp_path: Path) -> None:
    """10x as many connections as threads send ``GET / HTTP/1.1\\r\\nHost: `` and nothing
    more, reopened when cut; a voter still gets the form and a receipt within 10 s."""
    from testkit.slowloris import SlowHeads

    workers, threads = _pool()
    count = 10 * workers * threads
    with SlowHeads(server.port, count) as heads:
        deadline = time.monotonic() + 20
        while heads.opened < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert heads.opened >= count and not heads.connect_errors
        time.sleep(1.0)  # let the heads arrive
        result = _probe(server)
    _check(server, tmp_path, result, heads)
    # the gate's head deadline (10 s) cut every one of them during the probe window
    assert heads.cut >= count, (heads.cut, count)


@pytest.mark.slow
def test_slow_uploads_above_the_cap_do_not_silence_the_drop(
        server: LiveServer, tmp_path: Path) -> None:
    """More trickled uploads than every worker's upload cap: the extra ones get the busy
    page at once (503, Retry-After, Connection: close, localized), small reports pass."""
    from app.gate import SPARE_THREADS
    from testkit.slowloris import SlowBodies

    workers, threads = _pool()
    cap = workers * (threads - SPARE_THREADS)
    page = get_form(server.port, "be")
    with SlowBodies(server.port, page, cap + 16, rate=TRICKLE_RATE) as bodies:
        deadline = time.monotonic() + 20
        while bodies.answers.get(503, 0) < 16 and time.monotonic() < deadline:
            time.sleep(0.1)
        result = _probe(server)
        _check(server, tmp_path, result, bodies)
        assert bodies.answers.get(503, 0) >= 16, bodies.answers
        busy = _one_more_upload(server.port, page.action)
    assert set(bodies.answers) == {503}, bodies.answers
    assert busy.startswith(b"HTTP/1.1 503 "), busy[:200]
    head, _, body = busy.partition(b"\r\n\r\n")
    assert b"\r\nRetry-After: 60\r\n" in head and b"\r\nConnection: close\r\n" in head
    assert "праз хвіліну" in body.decode("utf-8")


def _one_more_upload(port: int, action: str) -> bytes:
    """Send only the head of a large upload (the body never comes) and read the answer:
    a busy answer must not wait for the body. Until the attacker's uploads have filled
    both workers' caps (a refused one is reopened and may land on the other worker), an
    upload may still get a slot: then it gets no answer, and we try again."""
    import socket

    for _ in range(10):
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(f"POST {action} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: "
                      f"multipart/form-data; boundary=x\r\nContent-Length: {8 << 20}\r\n\r\n"
                      .encode())
            reply = b""
            try:
                while chunk := s.recv(65536):
                    reply += chunk
            except TimeoutError:
                continue  # it got an upload slot
            return reply
    raise AssertionError("no upload was refused as busy")

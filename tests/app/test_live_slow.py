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

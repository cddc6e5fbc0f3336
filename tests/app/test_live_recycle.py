"""A worker that reaches its request limit finishes a slow upload first (issue 13).

gunicorn's own recycling on gthread cuts whatever is still in flight after
``graceful_timeout`` (2 s here), or has its silent worker killed by the master's
heartbeat check (6 s here); a voter's upload runs about 14 s after its worker has
reached the limit. The upload must still get its receipt and be exported
whole, the master must start a replacement while the old worker drains (three
workers for a while), small requests must keep being answered, and the retired
worker must then exit.
"""

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
    find_report,
    get,
    get_form,
    pattern,
    pattern_bytes,
    post,
    report_fields,
    token,
)
from testkit.liveserver import LiveServer

LIMIT = 10  # requests per worker, no jitter
SLOW_BYTES = 400_000
SLOW_RATE = 25_000.0  # bytes/s: about 16 s, a voter over Tor


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    # stock gthread would stop its heartbeat 2 s after the limit and be killed 6 s later
    args = f"--max-requests {LIMIT} --max-requests-jitter 0 --graceful-timeout 2 --timeout 6"
    with LiveServer.start(tmp_path, extra_env={"GUNICORN_CMD_ARGS": args}) as srv:
        yield srv


def quick(srv: LiveServer) -> int:
    return get(srv.port, "/en/", headers={"Connection": "close"}, timeout=30).status


@pytest.mark.slow
def test_slow_upload_outlives_its_workers_request_limit(server: LiveServer,
                                                        tmp_path: Path) -> None:
    page = get_form(server.port, "en")
    tok = token("slow")
    part = FilePart("attachments", "photo.jpg", SLOW_BYTES, lambda: pattern(77, SLOW_BYTES),
                    "image/jpeg")
    body = Multipart(page.hidden + report_fields("recycled " + tok), [part])
    progress = [0]
    result: list[Response | BaseException] = []

    def voter() -> None:
        def sent(n: int) -> None:
            progress[0] = n
        try:
            result.append(post(server.port, page.action, body, rate=SLOW_RATE, on_sent=sent,
                               timeout=120))
        except BaseException as exc:  # asserted below
            result.append(exc)

    thread = threading.Thread(target=voter, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while progress[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert progress[0] > 0, "the slow upload did not get going"
    first = set(server.pids()[1:])

    statuses = [quick(server) for _ in range(6 * LIMIT)]  # every worker reaches its limit
    most_workers = 0
    while thread.is_alive() and progress[0] < len(body):
        statuses.append(quick(server))  # answered by replacements meanwhile
        most_workers = max(most_workers, len(server.pids()) - 1)
        time.sleep(0.2)
    thread.join(60)

    assert set(statuses) == {200}, statuses
    assert len(result) == 1 and isinstance(result[0], Response), result
    resp = result[0]
    assert resp.is_receipt and resp.sent == len(body), (resp.status, resp.sent, resp.send_error)
    assert most_workers >= 3, "no replacement started while the old worker drained"

    deadline = time.monotonic() + 20
    while set(server.pids()[1:]) & first and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not set(server.pids()[1:]) & first, "a retired worker did not exit"

    report = find_report(export_and_open(server, tmp_path / "batch.skb"), tok)
    (attachment,) = report.attachments.values()
    assert attachment.data == pattern_bytes(77, SLOW_BYTES)

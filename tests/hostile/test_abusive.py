"""Slow and abusive clients against the real gunicorn.

While 32 connections crawl or stall (a quarter of them slowloris), other voters
are served; uploads cut mid-way or with lying lengths leave no partial report
and no sealed leftovers; and every crawling or stalled connection is cut off by
a timeout (stock gthread never does: app/worker.py adds idle and minimum-rate
deadlines), leaving no partial report.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from testkit.hostile.client import get_form, make_report, submit
from testkit.hostile.ledger import Ledger
from testkit.hostile.scenarios import Exports, db_count, orphans, wait_workers
from testkit.liveserver import LiveServer
from tests.hostile import abuse

SEED = int(os.environ.get("HOSTILE_SEED", "20261124"))
# A connection that makes no progress (or crawls through its headers) for a minute
# is an attack, not a voter on Tor: gunicorn's own `timeout` is 60 s.
CUTOFF = float(os.environ.get("HOSTILE_CUTOFF_S", "65"))


def _wait_empty(data: Path, seconds: float) -> list[str]:
    """Until no sealed piece is left without a report (or ``seconds`` pass)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not orphans(data):
            return []
        time.sleep(0.1)
    return orphans(data)


@pytest.mark.slow
def test_abusive_clients_leave_nothing_and_block_nobody(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    ledger = Ledger()
    with LiveServer.start(tmp_path) as srv:
        form = get_form(srv.port, "en")
        master = wait_workers(srv)[0]

        # uploads cut mid-way (RST after 1 MiB of 3): nothing stored, the sealed part removed
        for _ in range(4):
            abuse.cut_mid_upload(srv.port, form, rng)
        assert _wait_empty(srv.data, 10) == []
        # a body longer than its Content-Length: refused promptly, nothing stored
        liar = abuse.long_body(srv.port, form, rng)
        abuse.watch([liar], 15)
        assert liar.status is not None and 400 <= liar.status < 500, liar.answer[:200]
        liar.sock.close()
        assert db_count(srv.data) == 0

        crawlers = []
        for _ in range(8):
            crawlers += [abuse.slowloris_headers(srv.port),
                         abuse.stalled_headers(srv.port, form, rng),
                         abuse.trickled_body(srv.port, form, rng),
                         abuse.short_body_stall(srv.port, form, rng)]
        try:
            abuse.watch(crawlers, 3, until_all_ended=False)
            # other voters are served while 32 connections crawl
            for i in range(10):
                report = make_report(rng, ("be", "ru", "en")[i % 3],
                                     attachment_bytes=50_000 if i % 2 else 0)
                outcome = submit(srv.port, report, timeout=30)
                ledger.record(report, outcome)
                assert outcome.acknowledged and outcome.elapsed < 10, (outcome.status,
                                                                       outcome.elapsed)
                abuse.watch(crawlers, 0.3, until_all_ended=False)
        finally:
            abuse.close_all(crawlers)
        # once the crawlers are gone, their half-sealed parts go too; none became a report
        assert _wait_empty(srv.data, 15) == []
        assert db_count(srv.data) == 10
        assert srv.pids()[0] == master and len(srv.pids()) == 3
        exports = Exports(srv, tmp_path / "export")
        exports.export()
        tally = ledger.reconcile(exports.opened())
        assert tally.problems == [] and tally.recovered == 10
        assert orphans(srv.data) == []


@pytest.mark.slow
def test_crawling_and_stalled_connections_are_cut_off(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    with LiveServer.start(tmp_path) as srv:
        form = get_form(srv.port, "en")
        crawlers = [abuse.slowloris_headers(srv.port), abuse.stalled_headers(srv.port, form, rng),
                    abuse.trickled_body(srv.port, form, rng),
                    abuse.short_body_stall(srv.port, form, rng)]
        try:
            abuse.watch(crawlers, CUTOFF)
        finally:
            abuse.close_all(crawlers)
        verdict = {a.kind: a.cut_after for a in crawlers}
        print(f"\ncut off after (s): {verdict}")
        assert all(t is not None and t <= CUTOFF for t in verdict.values()), verdict
        assert _wait_empty(srv.data, 15) == []
        assert db_count(srv.data) == 0

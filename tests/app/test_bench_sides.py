"""A small run of `make bench`'s small-report comparison (bench/app_bench.py): every side
answers, the sides that store really store, the server's CPU is charged per good answer,
and a dead side or an answer that is not a receipt counts for nothing."""

from __future__ import annotations

import math
from pathlib import Path

from bench.app_bench import GOOD, SIDES, BareServer, measure, measure_sides
from testkit.live_client import get_form
from testkit.liveserver import LiveServer


def test_every_side_answers_and_every_acknowledged_report_is_stored(tmp_path: Path) -> None:
    sides = measure_sides(tmp_path, count=60, rounds=1, warmup=20)
    assert not sides.problems  # includes: floor and app hold warmup + count reports each
    for name in SIDES:
        [r] = sides.rounds[name]
        assert r.good == 60, name
        assert 0 < r.cpu_ms < math.inf and r.client_cpu > 0, name


def test_a_side_that_does_not_answer_counts_as_zero(tmp_path: Path) -> None:
    srv = BareServer.start(tmp_path)
    port = srv.port
    srv.stop()
    srv.port = port  # same port, nothing listening now
    r = measure(srv, "/en/", b"x=1", "application/x-www-form-urlencoded", 20, GOOD["bare"])
    assert (r.good, r.statuses, r.cpu_ms) == (0, {0: 20}, math.inf)


def test_an_answer_that_is_not_a_receipt_does_not_count(tmp_path: Path) -> None:
    with LiveServer.start(tmp_path) as srv:
        page = get_form(srv.port, "en")
        body = "&".join(f"{k}={v}" for k, v in page.hidden).encode()  # no report in it
        r = measure(srv, page.action, body, "application/x-www-form-urlencoded", 10,
                    GOOD["app"])
        held = srv.run_app("stats", check=True).stdout
    assert r.good == 0 and sum(r.statuses.values()) == 10, r.statuses
    assert "reports: 0" in held

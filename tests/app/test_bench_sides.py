"""A small run of `make bench`'s small-report comparison (bench/app_bench.py): every side
answers, the sides that store really store, and a dead side shows as slow, not fast."""

from __future__ import annotations

from pathlib import Path

from bench.app_bench import SIDES, BareServer, measure, measure_sides


def test_every_side_answers_and_every_acknowledged_report_is_stored(tmp_path: Path) -> None:
    sides = measure_sides(tmp_path, count=60, rounds=1, warmup=20)
    assert not sides.problems  # includes: floor and app hold warmup + count reports each
    for name in SIDES:
        [rate], [cpu] = sides.rates[name], sides.cpus[name]
        assert rate > 0 and cpu > 0, name


def test_a_side_that_does_not_answer_counts_as_zero(tmp_path: Path) -> None:
    srv = BareServer.start(tmp_path)
    port = srv.port
    srv.stop()
    srv.port = port  # same port, nothing listening now
    rate, _cpu, statuses = measure(srv, "/en/", b"x=1", "application/x-www-form-urlencoded",
                                   20, good=201)
    assert rate == 0
    assert statuses == {0: 20}

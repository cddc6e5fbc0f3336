"""A bounded load run: 64 concurrent voters, a fixed count of reports, three equal rounds.

Zero 5xx, zero lost (every acknowledged report exported and decrypted),
latency and throughput printed, and the memory of every gunicorn process flat:
after a warm-up round, the next two rounds must not grow any process's RSS by
more than a few MiB (a per-request leak of even 5 KiB would show as ~3 MiB per
round of 640 and fail the bound only if it kept growing; the bound is loose on
purpose so a noisy machine does not fail it, the figures are printed).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from testkit.hostile.ledger import Ledger
from testkit.hostile.scenarios import Exports, LoadRound, load_round, wait_workers
from testkit.liveserver import LiveServer
from testkit.procfs import rss_kib

SEED = int(os.environ.get("HOSTILE_SEED", "20261124"))
PER_ROUND = int(os.environ.get("HOSTILE_LOAD_COUNT", "640"))
CONCURRENCY = 64
GROWTH_BOUND_KIB = 10 * 1024


def _fmt(r: LoadRound) -> str:
    return (f"{r.submissions} in {r.seconds:.1f} s = {r.throughput:.0f}/s, "
            f"p50 {r.p50 * 1000:.0f} ms, p99 {r.p99 * 1000:.0f} ms, statuses {r.statuses}")


@pytest.mark.slow
def test_load_64_concurrent_no_5xx_no_loss_flat_memory(tmp_path: Path) -> None:
    ledger = Ledger()
    # recycling off (gunicorn.conf.py): flat memory is measured on the same processes
    with LiveServer.start(tmp_path, extra_env={"GUNICORN_CMD_ARGS": "--max-requests 0"}) as srv:
        pids = wait_workers(srv)
        start_rss = {pid: rss_kib(pid) for pid in pids}
        rounds = [load_round(srv, ledger, total=PER_ROUND, concurrency=CONCURRENCY,
                             seed=SEED + k) for k in range(3)]
        assert srv.pids() == pids, "a gunicorn process died or was replaced under load"
        for k, r in enumerate(rounds, 1):
            print(f"\nload round {k}: {_fmt(r)}")
        print("RSS KiB per process (start, after rounds 1-3): " + "; ".join(
            f"{pid}: {start_rss[pid]}, " + ", ".join(str(r.rss_kib[pid]) for r in rounds)
            for pid in pids))
        for r in rounds:
            assert set(r.statuses) == {303}, r.statuses  # all stored: no 5xx, no refusal, no reset
        growth = {pid: rounds[2].rss_kib[pid] - rounds[1].rss_kib[pid] for pid in pids}
        assert all(g < GROWTH_BOUND_KIB for g in growth.values()), growth

        exports = Exports(srv, tmp_path / "export")
        exports.export()
        tally = ledger.reconcile(exports.opened())
        assert tally.problems == []
        assert tally.acknowledged == tally.recovered == 3 * PER_ROUND and tally.lost == 0

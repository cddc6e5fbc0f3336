"""Onionbalance over the private Tor network: two Skrynka backends (``onion serve
--onionbalance-frontend``) behind one frontend address, and a second (old) frontend address
served beside it, as during a frontend move.

Reports posted through the frontend land on both backends; one backend is then killed
(SIGKILL: serve, its tor, its gunicorn, as a seized machine) and the frontend keeps
accepting reports; every acknowledged report decrypts from the backend that took it,
exactly once. The figures (first fetch, share, outage, memory) are printed; the long
version (a dead backend dropped from the descriptor) is ``make soak``'s balance bench.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from testkit.onionbalance import Balanced, Vote, count_markers, decrypt_backends, outage
from testkit.procfs import alive
from testkit.tornet import TorNet

pytestmark = [pytest.mark.e2e, pytest.mark.tor]

FRONTEND_WAIT = 240       # the first fetch took 51-73 s here
BEFORE = 8                # acknowledged reports before the kill (at least)
BEFORE_MAX = 24           # voters at most, until both backends hold a report
AFTER = 5                 # acknowledged reports needed after the kill ...
AFTER_BUDGET = 180        # ... within this many seconds (a try is cut at 45 s)


def spread(bal: Balanced) -> list[Vote]:
    """Voters until BEFORE are acknowledged and both backends hold a report."""
    votes: list[Vote] = []
    for i in range(BEFORE_MAX):
        votes.append(bal.post_report(f"before{i}"))
        if sum(v.ok for v in votes) >= BEFORE and all(b.report_count() for b in bal.backends):
            break
    return votes


def after_kill(bal: Balanced) -> list[Vote]:
    votes: list[Vote] = []
    deadline = time.monotonic() + AFTER_BUDGET
    i = 0
    while sum(v.ok for v in votes) < AFTER and time.monotonic() < deadline:
        votes.append(bal.post_report(f"after{i}",
                                     max_time=max(10, min(45, deadline - time.monotonic()))))
        i += 1
    return votes


def test_frontend_spreads_reports_and_survives_a_dead_backend(tornet: TorNet,
                                                              tmp_path: Path) -> None:
    t0 = time.monotonic()
    bal = Balanced.start(tmp_path / "bal", tornet, n=2, frontends=2)
    try:
        first_fetch = bal.wait_frontend(FRONTEND_WAIT)
        old_fetch = bal.wait_frontend(FRONTEND_WAIT, bal.frontends[1])
        on_old = bal.post_report("old-frontend", address=bal.frontends[1])
        assert on_old.ok, on_old.detail
        before = [on_old, *spread(bal)]
        held = [b.report_count() for b in bal.backends]
        rss = bal.rss_mib()
        assert sum(v.ok for v in before) >= BEFORE, [v.detail for v in before if not v.ok]
        assert all(held), f"every report landed on one backend: {held}"

        bal.backends[1].kill()
        t_kill = time.monotonic()
        after = after_kill(bal)
        assert sum(v.ok for v in after) >= AFTER, \
            (f"the frontend took {sum(v.ok for v in after)} reports in {AFTER_BUDGET} s after "
             f"a backend was killed: {[v.detail for v in after if not v.ok]}")

        found = decrypt_backends(bal.backends, tmp_path / "out")
    finally:
        pids = bal.stop()
    assert not [p for p in pids if alive(p)], "processes left behind"

    acked = [v for v in before + after if v.ok]
    counts = count_markers(found, [v.marker for v in acked])
    for v in acked:            # none lost, none twice, and its receipt code is the sealed one
        assert sum(counts[v.marker].values()) == 1, (v.marker, counts[v.marker])
        [name] = counts[v.marker]
        [report] = [r for r in found[name] if v.marker in str(r.get("fields"))]
        assert report["receipt"] in v.page
    for v in after:
        if v.ok:
            assert list(counts[v.marker]) == ["backend0"], "a dead backend took a report"
    assert {name for v in before if v.ok for name in counts[v.marker]} == {"backend0",
                                                                          "backend1"}
    print(f"\nonionbalance: first fetch {first_fetch:.0f} s after onionbalance started "
          f"(old frontend {old_fetch:.0f} s); "
          f"before the kill {held[0]}/{held[1]} reports on backend0/backend1 "
          f"({len(before)} voters); after the kill {sum(v.ok for v in after)} acknowledged of "
          f"{len(after)} tries, outage {outage(after):.1f} s, first acknowledged "
          f"{min(v.started + v.seconds for v in after if v.ok) - t_kill:.1f} s after the kill, "
          f"slowest try {max(v.seconds for v in after):.1f} s; RSS MiB "
          + ", ".join(f"{k} {v:.0f}" for k, v in rss.items())
          + f"; test {time.monotonic() - t0:.0f} s")

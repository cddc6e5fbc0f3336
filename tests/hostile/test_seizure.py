"""A seized disk (SQLite) does not say when a report came, only its day.

Reports are sent at known, spaced moments to a real gunicorn; then the server is
stopped (cleanly, or every process killed at once as a pulled plug would) and
the data directory is imaged as an adversary would: the four times of every
file and folder, and every byte of the database, its WAL and shared-memory
file, searched for anything that decodes to a moment inside the span when the
reports were sent (testkit/forensics.py). Any such finding fails the test.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from app.dayclock import PERIOD_S, day_start
from testkit.forensics import image, times_in
from testkit.hostile.client import get_form, make_report, submit
from testkit.hostile.scenarios import db_count, wait_workers
from testkit.liveserver import LiveServer

SEED = 20261202
GAP_S = 1.5  # between reports: each arrival could be told apart if it were on disk


def send_spaced(srv: LiveServer) -> tuple[float, float]:
    """Three reports (two with a photo), ``GAP_S`` apart; the span they were sent in."""
    rng = random.Random(SEED)
    first = last = 0.0
    for i, lang in enumerate(("be", "ru", "en")):
        form = get_form(srv.port, lang)
        report = make_report(rng, lang, attachment_bytes=20_000 if i != 1 else 0)
        started = time.time()
        outcome = submit(srv.port, report, form=form)
        assert outcome.acknowledged, outcome
        first, last = first or started, time.time()
        time.sleep(GAP_S)
    return first, last


def wait_started(srv: LiveServer) -> None:
    """Until both workers have opened the database (the WAL exists), then a second more:
    the server's start is not a report's arrival, and the test must not confuse them."""
    wait_workers(srv)
    deadline = time.monotonic() + 30
    while get_form(srv.port, "en") and not (srv.data / "skrynka.db-wal").exists():
        assert time.monotonic() < deadline, "the workers never opened the database"
        time.sleep(0.1)
    time.sleep(1.0)


def seize(srv: LiveServer, *, pull_the_plug: bool) -> None:
    if pull_the_plug:
        srv.kill_master()  # SIGKILL to master and workers at once: nothing runs after
    else:
        srv.stop()


@pytest.mark.parametrize("pull_the_plug", [False, True], ids=["stopped", "plug-pulled"])
def test_a_seized_disk_gives_only_the_day(tmp_path: Path, pull_the_plug: bool) -> None:
    srv = LiveServer.start(tmp_path)
    try:
        wait_started(srv)
        lo, hi = send_spaced(srv)
        # The clock ticks every PERIOD_S: a plug pulled this long after the last
        # report finds its times already replaced (SECURITY.md says the window).
        time.sleep(2 * PERIOD_S + 0.5)
        seize(srv, pull_the_plug=pull_the_plug)
    finally:
        srv.stop()
    img = image(srv.data)  # before anything else opens the database
    if pull_the_plug:
        assert "skrynka.db-wal" in img.raw, "a pulled plug leaves the WAL (the test sees it)"
    findings = times_in(img, lo - 0.5, hi + 0.5)
    assert findings == [], "\n".join(findings)
    # Not a vacuous pass: the database and its WAL were read, every path was stated,
    # and modification times say the day.
    assert len(img.raw["skrynka.db"]) > 40_000
    assert {"skrynka.db", "analysts.pub", "."} <= set(img.times)
    today = day_start()
    assert all(t["mtime"] == today and t["atime"] == today for t in img.times.values()), img.times
    assert db_count(srv.data) == 3


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The forensic scan itself: it finds file times and every encoding it searches."""
    import struct

    now = time.time()
    (tmp_path / "skrynka.db").write_bytes(
        b"x" * 100 + struct.pack("<I", int(now)) + b"y" * 50 + struct.pack(">q", int(now * 1e6))
        + struct.pack("<d", now) + f"{int(now * 1000)}".encode() + b"z"
        + time.strftime("%H:%M:%S", time.gmtime(now)).encode())
    img = image(tmp_path)
    found = times_in(img, now - 1, now + 1)
    assert any("32-bit little" in f for f in found)
    assert any("64-bit big-endian time x1000000" in f for f in found)
    assert any("double seconds" in f for f in found)
    assert sum("text" in f for f in found) == 2
    assert any(f.startswith("skrynka.db: mtime") for f in found)
    assert any(f.startswith("skrynka.db: birth") for f in found)
    assert times_in(img, now + 100, now + 200) == []

"""Crash consistency: SIGKILL workers and the master while reports arrive.

Every report whose receipt page was delivered must be exported and decrypt to
exactly what was sent; nothing half-written may be exported; ciphertext that a
crash orphaned is swept when the server starts again.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from keys.decrypt import decrypt_batches
from keys.origin import Trust
from testkit.hostile.client import get_form, make_report, start_upload, submit
from testkit.hostile.scenarios import Exports, crash_run, db_count, orphan_owners, orphans
from testkit.liveserver import LiveServer

SEED = int(os.environ.get("HOSTILE_SEED", "20261124"))


@pytest.mark.slow
def test_acknowledged_reports_survive_sigkill(tmp_path: Path) -> None:
    res = crash_run(tmp_path, seconds=30, kills=6, clients=8, seed=SEED)
    t = res.tally
    restarts = [round(s, 1) for s in res.recover_seconds]
    print(f"\ncrash: {res.worker_kills} worker + {res.master_kills} master SIGKILLs in "
          f"{res.seconds:.0f} s; attempted {t.attempted}, acknowledged {t.acknowledged}, "
          f"recovered {t.recovered}, lost {t.lost}; unacknowledged but stored complete "
          f"{t.unacked_present}; statuses {res.statuses}; orphans left by the last crash "
          f"{res.orphans_before_init}; restarts took {restarts} s")
    assert res.worker_kills + res.master_kills == 6
    assert t.acknowledged >= 30, "too few reports got through to prove anything"
    assert t.problems == []
    assert t.lost == 0 and t.recovered == t.acknowledged
    # a killed request gets no answer at all (status 0), never an error page
    assert set(res.statuses) <= {0, 303}, res.statuses
    assert res.orphans_after_init == []
    # the analysts' own tool reads the same export without a single complaint
    out = tmp_path / "analyst-out"
    summary = decrypt_batches(res.key, res.batches, out, trust=Trust(trust_first=True))
    assert summary.problems == [] and summary.fatal == []
    assert summary.decrypted == t.acknowledged + t.unacked_present


@pytest.mark.slow
def test_upload_cut_by_a_crash_leaves_nothing(tmp_path: Path) -> None:
    """A crash mid-upload leaves sealed pieces; start-up sweeps them; nothing is stored."""
    rng = random.Random(SEED)
    srv = LiveServer.start(tmp_path)
    try:
        report = make_report(rng, "be", attachment_bytes=4 << 20)
        sock, _rest = start_upload(srv.port, report, 2 << 20, form=get_form(srv.port, "be"))
        deadline = time.monotonic() + 20
        while not orphans(srv.data) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert orphans(srv.data), "the upload wrote no piece"
        srv.kill_master()
        sock.close()
        assert orphans(srv.data), "the crash left no sealed part behind"
        srv.restart()
        assert orphans(srv.data) == []
        assert db_count(srv.data) == 0
    finally:
        srv.stop()


@pytest.mark.slow
def test_a_killed_worker_leaves_no_part_while_the_master_lives(tmp_path: Path) -> None:
    """The master removes a dead worker's unfinished pieces at once (gunicorn's
    ``child_exit``), not only at the next start; the drop goes on taking reports."""
    rng = random.Random(SEED + 1)
    srv = LiveServer.start(tmp_path)
    try:
        report = make_report(rng, "ru", attachment_bytes=4 << 20)
        sock, _rest = start_upload(srv.port, report, 2 << 20, form=get_form(srv.port, "ru"))
        deadline = time.monotonic() + 20
        while not orphan_owners(srv.data) and time.monotonic() < deadline:
            time.sleep(0.05)
        (pid,) = orphan_owners(srv.data)
        assert pid in srv.pids()[1:], "a piece names the worker writing it"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while orphans(srv.data) and time.monotonic() < deadline:
            time.sleep(0.05)
        sock.close()
        assert orphans(srv.data) == [], "the dead worker's pieces outlived it"
        assert srv.proc is not None and srv.proc.poll() is None  # no restart was needed
        done = submit(srv.port, make_report(rng, "en"))
        assert done.acknowledged, done
        assert db_count(srv.data) == 1 and orphans(srv.data) == []
    finally:
        srv.stop()


def test_init_sweeps_old_orphans(tmp_path: Path) -> None:
    """`python -m app init` alone removes the pieces of uploads whose writer is gone
    and the old layout's files (overwritten first).

    (It keeps pieces whose writer still runs: a server may be receiving them right
    now. The gunicorn start-up hook sweeps everything; see the test above.)
    """
    srv = LiveServer.start(tmp_path)
    try:
        srv.stop()
        gone = subprocess.Popen(["true"])
        gone.wait()
        db = sqlite3.connect(srv.data / "skrynka.db")
        with db:
            for aid, owner in ((b"a" * 16, gone.pid), (b"b" * 16, os.getpid())):
                db.execute("INSERT INTO blob_chunks (attachment_id, n, owner, data)"
                           " VALUES (?, 0, ?, ?)", (aid, owner, os.urandom(1000)))
        db.close()
        legacy = srv.data / "blobs" / ("cd" * 16)
        legacy.parent.mkdir()
        legacy.write_bytes(os.urandom(1000))
        assert len(orphans(srv.data)) == 2  # "2 orphan piece(s)" and the legacy file
        srv.init()
        assert orphans(srv.data) == ["1 orphan piece(s)"]
        assert orphan_owners(srv.data) == {os.getpid()}
        exports = Exports(srv, tmp_path / "export")
        exports.export()
        assert exports.batches == []  # nothing was ever stored
    finally:
        srv.stop()

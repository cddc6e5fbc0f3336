"""Full disk and full storage budget: 503 in the voter's language, nothing lost, resumes by itself.

Three ways to run out of room: a real 8 MiB tmpfs filled to the last byte (root
only; skipped where mounting is not allowed), the operator's storage budget
(a flood of reports), and ENOSPC injected into the attachment writer.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from testkit.hostile.client import (
    LANGS,
    Outcome,
    Response,
    get_form,
    make_report,
    page_says,
    submit,
)
from testkit.hostile.ledger import Ledger
from testkit.hostile.scenarios import Exports, fill_disk, orphans, tmpfs, wait_workers
from testkit.liveserver import LiveServer

SEED = 20261124
MIB = 1 << 20


def assert_full_page(outcome: Outcome, lang: str) -> None:
    """The 503 "cannot accept reports: full" page, in ``lang``."""
    assert outcome.status == 503, (outcome.status, outcome.error, outcome.body[:300])
    resp = Response(503, {"content-type": "text/html"}, outcome.body, 0.0)
    assert page_says(resp, lang, "error.503_full"), outcome.body[:500]
    m = re.search(rb'<html lang="([a-z]+)"', outcome.body)
    assert m and m.group(1).decode() == lang


def _submit_all(srv: LiveServer, ledger: Ledger, rng: random.Random, n: int,
                attachment: int = 0) -> list[Outcome]:
    out = []
    for i in range(n):
        lang = LANGS[i % 3]
        report = make_report(rng, lang, attachment_bytes=attachment if i % 2 else 0)
        outcome = submit(srv.port, report, form=get_form(srv.port, lang))
        ledger.record(report, outcome)
        out.append(outcome)
    return out


def full_tmpfs_run(tmp_path: Path, refused_attachment: int) -> None:
    """Fill an 8 MiB tmpfs holding the data directory; refused reports carry an
    attachment of ``refused_attachment`` bytes (0: small reports only)."""
    base = tmp_path / "srv"
    with tmpfs(base / "data", 8) as mounted:
        if not mounted:
            pytest.skip("mounting a tmpfs is not allowed here (not root?)")
        rng = random.Random(SEED)
        ledger = Ledger()
        srv = LiveServer.start(base)
        try:
            master = wait_workers(srv)[0]
            before = _submit_all(srv, ledger, rng, 6, attachment=300_000)
            assert all(o.acknowledged for o in before)

            filler = fill_disk(srv.data)
            for lang in LANGS:
                report = make_report(rng, lang, attachment_bytes=refused_attachment)
                outcome = submit(srv.port, report, form=get_form(srv.port, lang))
                ledger.record(report, outcome)
                assert_full_page(outcome, lang)
            assert orphans(srv.data) == [], "a refused upload left ciphertext behind"

            filler.unlink()  # space returns: no restart, submissions resume
            after = _submit_all(srv, ledger, rng, 6, attachment=300_000)
            assert all(o.acknowledged for o in after), [o.status for o in after]
            assert srv.pids()[0] == master, "the server restarted"

            exports = Exports(srv, tmp_path / "export")
            exports.export()
            tally = ledger.reconcile(exports.opened())
            print(f"\nfull tmpfs: acknowledged {tally.acknowledged}, recovered {tally.recovered}, "
                  f"lost {tally.lost}, refused {ledger.statuses[503]}")
            assert tally.problems == [] and tally.lost == 0 and tally.recovered == 12
            assert tally.unacked_present == 0
        finally:
            srv.stop()


@pytest.mark.slow
def test_real_full_disk(tmp_path: Path) -> None:
    """The database cannot grow: small reports get the 503 page; all else holds."""
    full_tmpfs_run(tmp_path, 0)


@pytest.mark.slow
def test_real_full_disk_attachment(tmp_path: Path) -> None:
    """The sealed part of an attachment cannot be written: 503 page, no leftovers."""
    full_tmpfs_run(tmp_path, 400_000)


@pytest.mark.slow
def test_flood_hits_the_budget(tmp_path: Path) -> None:
    """16 voters flood 200 KB reports into a 4 MiB budget: 503s, no crash, nothing lost."""
    env = {"SKRYNKA_STORAGE_BUDGET_MB": "4", "SKRYNKA_MAX_FILE_MB": "1",
           "SKRYNKA_MAX_REPORT_MB": "1"}
    ledger = Ledger()
    with LiveServer.start(tmp_path, extra_env=env) as srv:
        master = wait_workers(srv)[0]

        def voter(i: int) -> None:
            rng = random.Random(SEED + i)
            for _ in range(8):
                report = make_report(rng, LANGS[i % 3], attachment_bytes=200_000)
                ledger.record(report, submit(srv.port, report))

        threads = [threading.Thread(target=voter, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        assert set(ledger.statuses) <= {303, 503}, dict(ledger.statuses)
        assert ledger.statuses[503] > 0 and 10 <= ledger.statuses[303] <= 20
        assert srv.pids()[0] == master and len(srv.pids()) == 3

        rng = random.Random(SEED - 1)  # not any voter's seed: tokens must not repeat
        for lang in LANGS:
            report = make_report(rng, lang, attachment_bytes=200_000)
            outcome = submit(srv.port, report)
            ledger.record(report, outcome)
            assert_full_page(outcome, lang)

        exports = Exports(srv, tmp_path / "export")
        exports.export()  # exporting frees the budget: submissions resume, no restart
        resumed = _submit_all(srv, ledger, rng, 3, attachment=200_000)
        assert all(o.acknowledged for o in resumed)
        exports.export()
        tally = ledger.reconcile(exports.opened())
        print(f"\nbudget flood: statuses {dict(ledger.statuses)}; acknowledged "
              f"{tally.acknowledged}, recovered {tally.recovered}, lost {tally.lost}")
        assert tally.problems == [] and tally.lost == 0
        assert orphans(srv.data) == []


def test_injected_enospc_in_the_attachment_writer(
    make_app: Callable[..., Flask], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while sealing an attachment: 503 page in the voter's language, no leftovers."""
    from app.blobstore import BlobStore
    from app.errors import StorageFull

    app = make_app(max_file_mb=4, max_report_mb=8)
    client = app.test_client()
    real_append = BlobStore.append
    full = {"on": True}

    def append(self: BlobStore, attachment_id: bytes, n: int, owner: int, data: bytes) -> None:
        if full["on"] and n >= 1:  # the second piece finds the disk full
            raise StorageFull("the disk is full")
        real_append(self, attachment_id, n, owner, data)

    monkeypatch.setattr(BlobStore, "append", append)
    rng = random.Random(SEED)
    for lang in LANGS:
        report = make_report(rng, lang, attachment_bytes=500_000)
        body, ctype = report.body()
        resp = client.post(f"/{lang}/", data=body, headers={"Content-Type": ctype})
        outcome = Outcome(resp.status_code, False, 0.0, None, resp.get_data())
        assert_full_page(outcome, lang)
        assert app.extensions["skrynka"].store.blobs.orphans() == 0
    full["on"] = False
    report = make_report(rng, "be", attachment_bytes=500_000)
    body, ctype = report.body()
    resp = client.post("/be/", data=body, headers={"Content-Type": ctype})
    assert resp.status_code == 303
    store = app.extensions["skrynka"].store
    assert store.blobs.orphans() == 0 and store.stats()["attachments"] == 1

"""Storage: no plaintext on disk (canary), concurrency, sweeping, PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from nacl.public import PrivateKey

from app.blobstore import CHUNK_BYTES
from app.intake import MAX_TEXT_BODY
from app.models import attachments, chain_state, reports
from app.storage import BLOCK_BYTES, ROW_BYTES, WAL_LIMIT_BYTES, Store, charged_bytes, file_cost
from keys.batch import GENESIS, chain_next
from tests.app.helpers import (
    FilePart,
    has_message,
    multipart,
    piece_ids,
    post,
    stored_reports,
    valid_fields,
)

MIB = 1 << 20

TEMP_DIRS = {Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")}


def files_under(root: Path, since: float) -> list[Path]:
    found = []
    for dirpath, _dirs, names in os.walk(root, onerror=lambda e: None):
        for name in names:
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if path.is_symlink() or not path.is_file() or st.st_size > 256 << 20:
                continue
            if st.st_mtime >= since or st.st_ctime >= since:
                found.append(path)
    return found


def test_canary_never_reaches_disk(app: Flask, data_dir: Path, analyst_key: PrivateKey) -> None:
    start = time.time() - 2
    canary = f"CANARY-{uuid.uuid4().hex}"
    needles = [canary.encode(e) for e in ("utf-8", "utf-16-le", "utf-16-be")]
    filler = os.urandom(1 << 20)
    attachment = filler + canary.encode() + filler  # ~2 MiB, canary in the middle
    resp = post(app.test_client(), "/ru/", valid_fields("ru", description=f"текст {canary}"),
                [FilePart("attachments", f"{canary}.jpg", attachment)])
    assert resp.status_code == 303
    # The canary really was received: the analyst gets it back.
    [stored] = stored_reports(app, analyst_key)
    assert canary in stored.report["fields"]["description"]
    assert stored.files == [attachment]
    scanned = 0
    for path in files_under(data_dir, 0) + [
        p for d in TEMP_DIRS if d.is_dir() for p in files_under(d, start)
    ]:
        try:
            content = path.read_bytes()
        except OSError:
            continue
        scanned += 1
        for needle in needles:
            assert needle not in content, f"plaintext canary found in {path}"
    assert scanned >= 3  # at least the database and the blob were looked at


def test_concurrent_submissions_get_consecutive_seqs(app: Flask,
                                                     analyst_key: PrivateKey) -> None:
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            resp = post(app.test_client(), "/en/", valid_fields(description=f"thread {i}"),
                        [FilePart("attachments", "x", os.urandom(2000))])
            assert resp.status_code == 303
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stored = stored_reports(app, analyst_key)
    assert [s.seq for s in stored] == list(range(1, 13))
    assert sorted(s.report["fields"]["description"] for s in stored) == sorted(
        f"thread {i}" for i in range(12))
    check_chain(app)


def check_chain(app: Flask) -> None:
    store = app.extensions["skrynka"].store
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(reports).order_by(reports.c.seq)).all()
    prev = GENESIS
    for row in rows:
        prev = chain_next(prev, row.seq, bytes(row.report_id), bytes(row.envelope_sha256))
        assert bytes(row.chain) == prev
    assert store.state().last_chain == prev


def test_sweep_keeps_stored_pieces_and_those_of_running_uploads(
        app: Flask, analyst_key: PrivateKey) -> None:
    assert post(app.test_client(), "/en/", valid_fields(),
                [FilePart("attachments", "x", b"keep")]).status_code == 303
    store = app.extensions["skrynka"].store
    [stored_id] = piece_ids(app)
    store.blobs.append(b"r" * 16, 0, os.getpid(), b"an upload still running")
    store.blobs.append(b"d" * 16, 0, dead_pid(), b"an upload whose worker died")
    assert store.sweep(alive=True) == 1  # the running upload's piece could still be used
    assert piece_ids(app) == {stored_id, b"r" * 16}
    assert store.sweep(alive=False) == 1  # at a start nothing runs: every orphan goes
    assert piece_ids(app) == {stored_id}
    assert stored_reports(app, analyst_key)[0].files == [b"keep"]


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_state_tracks_unexported_bytes(app: Flask) -> None:
    store = app.extensions["skrynka"].store
    assert store.unexported_bytes() == 0
    assert post(app.test_client(), "/en/", valid_fields(),
                [FilePart("attachments", "x", b"y" * 10_000)]).status_code == 303
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.sum(reports.c.stored_bytes))).scalar()
    assert store.unexported_bytes() == stored > 10_000


def test_has_room_never_trusts_a_cached_full(app: Flask) -> None:
    """A cached total may answer "room" (the commit checks again); "full" is always re-read."""
    store = app.extensions["skrynka"].store
    budget = store.budget_bytes

    def set_used(value: int) -> None:
        with store.engine.begin() as conn:
            conn.execute(sa.update(chain_state).values(unexported_bytes=value))

    assert store.has_room(budget, files=False)
    set_used(budget - 10)
    assert not store.has_room(budget + 1, files=False)  # does not fit even by the cache
    assert store.has_room(10, files=False)
    assert not store.has_room(11, files=False)  # the cache says full: confirmed by the database
    set_used(0)  # an export freed space: seen at once, no waiting for the cache
    assert store.has_room(budget, files=False)
    assert post(app.test_client(), "/en/", valid_fields()).status_code == 303
    set_used(budget)  # the budget filled up meanwhile: the commit refuses, 503
    resp = post(app.test_client(), "/en/", valid_fields())
    assert resp.status_code == 503 and store.unexported_bytes() == budget


def set_used(store: Store, value: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.update(chain_state).values(unexported_bytes=value))


def test_file_cost_is_whole_pages_and_a_row_per_piece() -> None:
    assert BLOCK_BYTES == 4096 and CHUNK_BYTES == 64 * BLOCK_BYTES
    assert file_cost(1) == file_cost(700) == file_cost(4096) == 4096 + ROW_BYTES
    assert file_cost(4097) == 8192 + ROW_BYTES
    assert file_cost(CHUNK_BYTES + 1) == CHUNK_BYTES + BLOCK_BYTES + 2 * ROW_BYTES
    assert charged_bytes(1000, []) == 1000 + ROW_BYTES
    assert charged_bytes(1000, [700, 5000]) == 1000 + 5 * ROW_BYTES + 4096 + 8192


def test_tiny_files_cost_their_disk_use_and_an_export_gives_it_back(
        app: Flask, runner, tmp_path: Path, analyst_key: PrivateKey) -> None:
    """Ten one-byte files take ten blocks on disk: the budget is charged that much
    (their envelopes are ~700 bytes each), and the export returns exactly that."""
    store = app.extensions["skrynka"].store
    files = [FilePart("attachments", f"{i}.jpg", bytes([i])) for i in range(10)]
    body, ctype = multipart(valid_fields(), files)
    assert app.test_client().post("/en/", data=body, content_type=ctype).status_code == 303
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(reports.c.envelope_size, reports.c.stored_bytes)).one()
        sizes = [r[0] for r in conn.execute(sa.select(attachments.c.size))]
    assert len(sizes) == 10 and len(piece_ids(app)) == 10
    size, stored = row
    on_disk = sum(file_cost(n) for n in sizes)
    assert stored == size + 11 * ROW_BYTES + on_disk > 10 * BLOCK_BYTES > len(body)
    assert post(app.test_client(), "/be/", valid_fields("be")).status_code == 303
    with store.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.sum(reports.c.stored_bytes))).scalar()
    assert store.unexported_bytes() == total > stored
    assert runner("export", "--out", str(tmp_path / "b.skb")).exit_code == 0
    assert store.unexported_bytes() == 0
    assert [len(r.files) for r in stored_reports(app, analyst_key)] == [10, 0]


def test_text_only_reports_may_use_the_reserve(make_app, analyst_key: PrivateKey) -> None:
    app = make_app(storage_budget_mb=4, text_reserve_mb=1)
    store = app.extensions["skrynka"].store
    client = app.test_client()
    assert store.reserve_bytes == MIB
    limit = store.budget_bytes - MIB
    # The early check, before a body is read.
    set_used(store, limit - 10)
    assert store.has_room(10, files=True) and not store.has_room(11, files=True)
    assert store.has_room(MIB + 10, files=False) and not store.has_room(MIB + 11, files=False)
    # The exact check at commit: the body passes the early check, its charge does not fit.
    body, ctype = multipart(valid_fields(), [FilePart("attachments", "a.jpg", b"x")])
    set_used(store, limit - len(body))
    resp = client.post("/en/", data=body, content_type=ctype)
    assert resp.status_code == 503 and has_message(resp, app, "en", "error.503_full")
    assert store.unexported_bytes() == limit - len(body)
    assert piece_ids(app) == set()
    # Without the file it goes in, into the reserve.
    set_used(store, limit)
    assert post(client, "/en/", valid_fields()).status_code == 303
    assert store.unexported_bytes() > limit
    assert [len(r.files) for r in stored_reports(app, analyst_key)] == [0]


def test_submit_asks_for_room_for_files_only_past_a_text_only_body(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    store = app.extensions["skrynka"].store
    asked: list[tuple[int, bool]] = []
    real = store.has_room

    def spy(declared: int, *, files: bool) -> bool:
        asked.append((declared, files))
        return real(declared, files=files)

    monkeypatch.setattr(store, "has_room", spy)
    assert post(app.test_client(), "/en/", valid_fields()).status_code == 303
    big = [FilePart("attachments", "big.jpg", b"p" * (MAX_TEXT_BODY + 1))]
    assert post(app.test_client(), "/en/", valid_fields(), big).status_code == 303
    assert [files for _declared, files in asked] == [False, True]


@pytest.mark.postgres
def test_postgres_store_export_purge(make_app, pg_database: str, runner, tmp_path: Path,
                                     analyst_key: PrivateKey) -> None:
    app = make_app(database_url=pg_database)
    sent = []
    for i in range(3):
        blob = os.urandom(5000 + i)
        sent.append(blob)
        assert post(app.test_client(), "/be/", valid_fields("be"),
                    [FilePart("attachments", f"{i}", blob)]).status_code == 303
    stored = stored_reports(app, analyst_key)
    assert [s.seq for s in stored] == [1, 2, 3] and [s.files[0] for s in stored] == sent
    check_chain(app)
    env = {"SKRYNKA_DATABASE_URL": pg_database}
    assert runner("export", "--out", str(tmp_path / "pg.skb"), **env).exit_code == 0
    res = runner("purge", "--days", "0", "--yes", **env)
    assert res.exit_code == 0 and "purged 3" in res.stdout
    assert stored_reports(app, analyst_key) == []
    app.extensions["skrynka"].store.engine.dispose()


@pytest.mark.postgres
def test_postgres_concurrent_submissions(make_app, pg_database: str,
                                         analyst_key: PrivateKey) -> None:
    app = make_app(database_url=pg_database)
    results: list[int] = []

    def worker() -> None:
        results.append(post(app.test_client(), "/en/", valid_fields()).status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [303] * 8
    assert [s.seq for s in stored_reports(app, analyst_key)] == list(range(1, 9))
    check_chain(app)
    app.extensions["skrynka"].store.engine.dispose()


def test_sqlite_durability_pragmas(app: Flask) -> None:
    store = app.extensions["skrynka"].store
    with store.engine.connect() as conn:
        def pragma(name: str) -> object:
            return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

        assert str(pragma("journal_mode")).lower() == "wal"
        assert pragma("synchronous") == 2  # FULL
        assert pragma("secure_delete") == 1
        assert pragma("journal_size_limit") == WAL_LIMIT_BYTES
        assert int(pragma("busy_timeout")) >= 1000  # type: ignore[call-overload]


def test_failure_while_storing_is_500_logs_class_only(
        app: Flask, analyst_key: PrivateKey, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    store = app.extensions["skrynka"].store
    secret = "value-that-must-not-be-logged"

    def broken(pending: object, day: str) -> int:
        raise RuntimeError(secret)

    monkeypatch.setattr(store, "store_report", broken)
    with caplog.at_level("DEBUG"):
        resp = post(app.test_client(), "/be/", valid_fields("be", description=secret),
                    [FilePart("attachments", "x", b"data" * 30000)])
    assert resp.status_code == 500
    from tests.app.helpers import has_message

    assert has_message(resp, app, "be", "error.500")
    assert "RuntimeError" in caplog.text and secret not in caplog.text
    assert piece_ids(app) == set()
    monkeypatch.undo()
    assert stored_reports(app, analyst_key) == []


def test_pieces_of_a_dead_worker_and_only_those_are_removed(app: Flask) -> None:
    """What gunicorn's master does when it reaps worker 4242 (gunicorn.conf.py)."""
    store = app.extensions["skrynka"].store
    for n in range(3):
        store.blobs.append(b"a" * 16, n, 4242, b"sealed")
    store.blobs.append(b"b" * 16, 0, 424, b"sealed")
    store.blobs.append(b"c" * 16, 0, 42420, b"sealed")
    with store.engine.begin() as conn:  # 4242's committed attachment stays
        conn.execute(sa.insert(reports).values(
            seq=1, report_id=b"r" * 16, day="2026-12-02", envelope=b"e", envelope_size=1,
            envelope_sha256=b"h" * 32, chain=b"c" * 32, stored_bytes=1))
        conn.execute(sa.insert(attachments).values(
            attachment_id=b"s" * 16, report_seq=1, position=0, size=6, sha256=b"h" * 32))
    store.blobs.append(b"s" * 16, 0, 4242, b"sealed")
    assert store.drop_pieces_of(4242) == 3
    assert piece_ids(app) == {b"b" * 16, b"c" * 16, b"s" * 16}
    assert store.drop_pieces_of(4242) == 0

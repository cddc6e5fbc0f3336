"""Alembic: the models match head, and every revision goes up and down (SQLite, PostgreSQL)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app import create_app, migrate
from app.errors import StorageError
from app.models import metadata
from app.storage import Store, make_engine
from contract import DataDir

TABLES = {"chain_state", "reports", "attachments", "blob_chunks"}


def diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def up_down_up(url: str) -> None:
    revisions = list(ScriptDirectory.from_config(migrate.alembic_config(url)).walk_revisions())
    assert revisions, "at least one revision"
    migrate.upgrade(url)
    assert tables(url) == TABLES
    assert diff(url) == []
    for rev in revisions:  # head first: step down one at a time, then back up
        migrate.downgrade(url, rev.down_revision or "base")
    assert tables(url) == set()
    migrate.upgrade(url)
    assert tables(url) == TABLES and diff(url) == []


def test_sqlite_up_down_up(tmp_path: Path) -> None:
    up_down_up(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
def test_postgres_up_down_up(pg_database: str) -> None:
    up_down_up(pg_database)


def test_models_differ_from_an_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert diff(url), "compare_metadata sees missing tables (the check can fail)"


def test_app_refuses_an_unmigrated_database(make_config) -> None:
    config = make_config()
    with pytest.raises(StorageError) as exc:
        create_app(config)
    assert "python -m app init" in (exc.value.hint or "")


def seed_0001(url: str, files: list[tuple[bytes, str, bytes]]) -> None:
    """A schema-0001 database with one report whose attachments are ``(id, blob, data)``."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO reports (seq, report_id, day, envelope, envelope_size,"
                " envelope_sha256, chain, stored_bytes) VALUES"
                " (1, x'01', '2026-12-01', x'00', 1, x'00', x'00', 1)")
            for pos, (aid, blob, data) in enumerate(files):
                conn.exec_driver_sql(
                    "INSERT INTO attachments (attachment_id, report_seq, position, blob, size,"
                    " sha256) VALUES (?, 1, ?, ?, ?, ?)",
                    (aid, pos, blob, len(data), hashlib.sha256(data).digest()))
    finally:
        engine.dispose()


def test_0002_moves_attachment_files_into_the_database_and_back(tmp_path: Path) -> None:
    """An install from before 0002 keeps every attachment: its file becomes pieces
    (and ``app init`` then overwrites and removes the file); downgrade writes it back."""
    url = f"sqlite:///{tmp_path / 'skrynka.db'}"
    migrate.upgrade(url, "0001")
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    payloads = {bytes([i]) * 16: os.urandom(300_000 * i + 7) for i in range(1, 4)}
    for aid, data in payloads.items():
        (blobs / aid.hex()).write_bytes(data)
    seed_0001(url, [(aid, aid.hex(), data) for aid, data in payloads.items()])
    migrate.upgrade(url)
    store = Store(url, DataDir(tmp_path), 1 << 30)
    try:
        for aid, data in payloads.items():
            assert store.blobs.reader(aid).read() == data
        assert store.sweep(alive=False) == 3  # the old files, overwritten and removed
        assert not blobs.exists()
    finally:
        store.close()
    migrate.downgrade(url, "0001")
    for aid, data in payloads.items():
        assert (blobs / aid.hex()).read_bytes() == data


def test_0002_refuses_when_an_attachment_file_is_missing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'skrynka.db'}"
    migrate.upgrade(url, "0001")
    seed_0001(url, [(b"\x02" * 16, "gone", b"x")])
    with pytest.raises(RuntimeError, match="missing"):
        migrate.upgrade(url)
    assert migrate.current(make_engine(url)) == "0001"  # nothing half-done

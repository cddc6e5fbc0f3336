"""Alembic: the models match head, and every revision goes up and down (SQLite, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app import create_app, migrate
from app.errors import StorageError
from app.models import metadata
from app.storage import make_engine

TABLES = {"chain_state", "reports", "attachments"}


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

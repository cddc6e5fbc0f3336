"""Alembic, driven from Python: ``python -m app init`` and the tests use this."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from app.errors import StorageError

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url  # not set_main_option: a URL may hold '%'
    return cfg


def upgrade(url: str, revision: str = "head", data: Path | None = None) -> None:
    """Migrate ``url`` to ``revision``; ``data``: the data directory whose ``blobs/`` the
    old layout's migration reads (default: next to a SQLite database, else $SKRYNKA_DATA)."""
    cfg = alembic_config(url)
    if data is not None:
        cfg.attributes["legacy_blobs"] = str(data / "blobs")
    command.upgrade(cfg, revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check(engine: Engine) -> None:
    """StorageError unless the database opens and is at the newest schema."""
    try:
        now = current(engine)
    except Exception as exc:
        raise StorageError(
            f"cannot open the database ({type(exc).__name__})",
            hint="check SKRYNKA_DATABASE_URL, then run `python -m app init`",
        ) from None
    if now != head():
        raise StorageError(
            f"the database schema is at {now or 'nothing'}, not {head()}",
            hint="run `python -m app init` (it applies the migrations)",
        )

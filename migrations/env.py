"""Alembic environment: the app's metadata; URL from the caller or SKRYNKA_*."""

from __future__ import annotations

from alembic import context

from app.config import Config
from app.models import metadata
from app.storage import make_engine

config = context.config
url = config.attributes.get("url") or Config.from_env().database_url


def run_offline() -> None:
    context.configure(url=url, target_metadata=metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=metadata,
                              render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()

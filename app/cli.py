"""Operator commands behind ``python -m app``: init, stats (app/export.py, app/purge.py)."""

from __future__ import annotations

import os
from collections.abc import Callable

from app import exportkey, migrate
from app.analystkeys import KEYS_HINT, load_keys, problem_parts
from app.config import Config
from app.errors import ConfigError, StorageError
from app.pgcheck import startup_warning
from app.storage import Store, is_sqlite, make_engine, open_store
from keys.errors import KeysError
from keys.pubkey import encode_public, fingerprint

Say = Callable[[str], None]


def init(config: Config, say: Say, warn: Say) -> None:
    """Data directory (0700), migrations to head, chain row, orphan sweep, key check."""
    try:
        config.data.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(config.data, 0o700)
    except OSError as exc:
        raise StorageError(f"cannot create the data directory {config.data}: {exc}") from None
    say(f"data directory: {config.data}")
    try:
        migrate.upgrade(config.database_url, data=config.data)
    except Exception as exc:
        raise StorageError(
            f"cannot migrate the database ({type(exc).__name__}: {exc})",
            hint="check SKRYNKA_DATABASE_URL and that the database server is running",
        ) from None
    store = open_store(config)
    try:
        created = store.ensure_chain()
        removed = store.sweep(alive=True)
        postgres = None if is_sqlite(config.database_url) else _postgres_warning(store)
    finally:
        store.close()
    say(f"database ready at schema {migrate.head()}" + (" (new chain)" if created else ""))
    _export_key(config, say, warn)
    if postgres:
        warn(postgres)
    if removed:
        say(f"removed {removed} leftover piece(s) or file(s) of interrupted uploads")
    try:
        keys = load_keys(config.analyst_keys)  # as the server reads them
        say(f"{len(keys)} analyst key(s) in {config.analyst_keys}: "
            + ", ".join(fingerprint(k) for k in keys))
    except (KeysError, ConfigError, OSError) as exc:
        what, hint = problem_parts(config.analyst_keys, exc)
        warn(f"no usable analyst key: {what}; the form will answer 503 until one is added")
        warn("hint: " + (hint or KEYS_HINT.format(path=config.analyst_keys)))


def check_schema(config: Config) -> None:
    """StorageError unless the database opens and is migrated (before export, purge, stats)."""
    engine = make_engine(config.database_url)
    try:
        migrate.check(engine)
    finally:
        engine.dispose()


def _export_key(config: Config, say: Say, warn: Say) -> None:
    """Make the export signing key if missing; print its public text for the analysts."""
    key, made = exportkey.create(config.paths.export_key)
    say(f"export key{' made' if made else ''}: {exportkey.public_text(key)}")
    if made:
        warn("give the analysts this export key line once, by a channel you trust; they "
             "record it and decrypt with --signer (a new key makes them refuse new batches)")


def _postgres_warning(store: Store) -> str | None:
    """The settings of this PostgreSQL server that keep report times longer (app/pgcheck.py)."""
    try:
        return startup_warning(store.engine)
    except StorageError as exc:
        return f"{exc.message}; hint: {exc.hint}"


#: The stats that are sizes in bytes: printed with a human size too.
SIZES = ("stored_bytes", "unexported_bytes", "budget_bytes")


def human_size(size: int) -> str:
    """``708 B``, ``1.5 KiB``, ``1.2 MiB``, ``2.0 GiB`` (binary units, one decimal)."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def stats(config: Config, say: Say) -> dict[str, int]:
    """``name: value`` lines (names stable for scripts); a size reads ``1.2 MiB (1234567
    bytes)``, its exact byte count in the parentheses."""
    store = open_store(config)
    try:
        numbers = store.stats()
    finally:
        store.close()
    budget = numbers["budget_bytes"]
    say(f"data_dir: {config.data}")
    for name, value in numbers.items():
        say(f"{name}: {human_size(value)} ({value} bytes)" if name in SIZES
            else f"{name}: {value}")
    say(f"budget_used_percent: {100 * numbers['unexported_bytes'] // max(budget, 1)}")
    try:
        say(f"export_key: {exportkey.public_text(exportkey.load(config.paths.export_key))}")
    except ConfigError as exc:
        say(f"export_key: none ({exc.message}; {exc.hint})")
    _key_set(config, say)
    return numbers


def _key_set(config: Config, say: Say) -> None:
    """Who can read what the server seals now: every key of analysts.pub by fingerprint."""
    try:
        keys = load_keys(config.analyst_keys)  # as the server reads them
    except (KeysError, ConfigError, OSError) as exc:
        say(f"analyst_keys: unusable ({problem_parts(config.analyst_keys, exc)[0]})")
        return
    say(f"analyst_keys: {len(keys)}")
    for key in keys:
        say(f"analyst_key: {fingerprint(key)} {encode_public(key)}")

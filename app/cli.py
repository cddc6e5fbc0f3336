"""Operator commands behind ``python -m app``: init, export, purge, stats."""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from nacl.utils import random as random_bytes

from app import migrate
from app.analystkeys import check_count
from app.config import Config
from app.errors import ConfigError, ExportError, StorageError
from app.pgcheck import startup_warning
from app.storage import Store, fsync_dir, is_sqlite, open_store
from contract import today, today_date
from keys.batch import AttachmentEntry, ReportEntry, write_batch
from keys.errors import KeysError
from keys.pubkey import encode_public, fingerprint, read_recipients

Say = Callable[[str], None]
KEYS_HINT = (
    "on the analyst's offline laptop run `python -m keys keygen`, then copy the "
    "skrynka1… line of its .pub file into {path} (one key per line)"
)


def init(config: Config, say: Say, warn: Say) -> None:
    """Data directory (0700), migrations to head, chain row, orphan sweep, key check."""
    try:
        config.data.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(config.data, 0o700)
    except OSError as exc:
        raise StorageError(f"cannot create the data directory {config.data}: {exc}") from None
    try:
        migrate.upgrade(config.database_url)
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
    if postgres:
        warn(postgres)
    if removed:
        say(f"removed {removed} leftover piece(s) or file(s) of interrupted uploads")
    try:
        keys = read_recipients(config.analyst_keys)
        check_count(config.analyst_keys, keys)
        say(f"{len(keys)} analyst key(s) in {config.analyst_keys}")
    except (KeysError, ConfigError) as exc:
        warn(f"no usable analyst key: {exc}; the form will answer 503 until one is added")
        warn("hint: " + KEYS_HINT.format(path=config.analyst_keys))


def _postgres_warning(store: Store) -> str | None:
    """The settings of this PostgreSQL server that keep report times longer (app/pgcheck.py)."""
    try:
        return startup_warning(store.engine)
    except StorageError as exc:
        return f"{exc.message}; hint: {exc.hint}"


def _entries(store: Store, after_seq: int) -> list[ReportEntry]:
    rows = store.unexported(after_seq)
    for expected, row in enumerate(rows, after_seq + 1):
        if row.seq != expected:
            raise ExportError(
                f"report {expected} is missing from the database (found {row.seq})",
                hint="the database was altered; restore it from a backup before exporting",
            )
    atts = store.attachments_of([r.seq for r in rows])

    def report_opener(seq: int) -> Callable[[], BinaryIO]:
        return lambda: io.BytesIO(store.report_envelope(seq))

    def blob_opener(attachment_id: bytes) -> Callable[[], BinaryIO]:
        return lambda: store.blobs.reader(attachment_id)

    return [
        ReportEntry(
            seq=r.seq, id=bytes(r.report_id), day=r.day, size=r.envelope_size,
            sha256=bytes(r.envelope_sha256), chain=bytes(r.chain), open=report_opener(r.seq),
            attachments=tuple(
                AttachmentEntry(bytes(a.attachment_id), a.size, bytes(a.sha256),
                                blob_opener(bytes(a.attachment_id)))
                for a in atts[r.seq]
            ),
        )
        for r in rows
    ]


def export(config: Config, out: Path, say: Say) -> int:
    """Write every unexported report to a batch file, then mark them exported.

    Returns how many reports were exported; with none, writes no file.
    """
    store = open_store(config)
    try:
        state = store.state()
        entries = _entries(store, state.exported_seq)
        if not entries:
            say("nothing to export (no file written)")
            return 0
        if out.exists():
            raise ExportError(f"{out} already exists", hint="choose a new file name")
        tmp = out.with_name(out.name + ".tmp")
        day = today()
        batch_id = random_bytes(16)
        try:
            with open(tmp, "xb") as f:
                write_batch(
                    f, batch_id=batch_id, chain_id=state.chain_id, created_day=day,
                    prev_seq=state.exported_seq, prev_chain=state.exported_chain,
                    reports=entries,
                )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, out)
            fsync_dir(out.parent)
        except (OSError, ValueError) as exc:
            tmp.unlink(missing_ok=True)
            raise ExportError(f"cannot write the batch {out}: {exc}") from None
        last = entries[-1]
        try:
            store.mark_exported(state.exported_seq, last.seq, last.chain, batch_id, day)
        except Exception:
            out.unlink(missing_ok=True)
            raise
        say(f"exported {len(entries)} report(s), seq {entries[0].seq}-{last.seq}, to {out}")
        return len(entries)
    finally:
        store.close()


def purge(config: Config, days: int, say: Say) -> int:
    """Delete reports exported at least ``days`` days ago (never unexported ones)."""
    cutoff = (today_date() - dt.timedelta(days=days)).isoformat()
    store = open_store(config)
    try:
        count = store.purge(cutoff)
    finally:
        store.close()
    say(f"purged {count} exported report(s) exported on or before {cutoff}")
    return count


def stats(config: Config, say: Say) -> dict[str, int]:
    store = open_store(config)
    try:
        numbers = store.stats()
    finally:
        store.close()
    budget = numbers["budget_bytes"]
    for name, value in numbers.items():
        say(f"{name}: {value}")
    say(f"budget_used_percent: {100 * numbers['unexported_bytes'] // max(budget, 1)}")
    _key_set(config, say)
    return numbers


def _key_set(config: Config, say: Say) -> None:
    """Who can read what the server seals now: every key of analysts.pub by fingerprint."""
    try:
        keys = read_recipients(config.analyst_keys)
        check_count(config.analyst_keys, keys)
    except (KeysError, ConfigError) as exc:
        say(f"analyst_keys: unusable ({exc.message})")
        return
    say(f"analyst_keys: {len(keys)}")
    for key in keys:
        say(f"analyst_key: {fingerprint(key)} {encode_public(key)}")

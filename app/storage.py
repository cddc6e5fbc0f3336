"""Storing sealed reports: SQLite (WAL) or PostgreSQL through SQLAlchemy 2.

Only ciphertext reaches this module. Storing a report is part of one transaction
that locks the chain, numbers the report ``last_seq + 1``, links it into the hash
chain and inserts it, shared with the reports that arrived meanwhile
(``app/commit.py``, written by ``app/inserter.py``). Attachment envelopes are
already in the database (``blob_chunks``, written as they arrived by
app/blobstore.py); the commit gives them their ``attachments`` rows, so a
committed report always has its pieces. Nothing is kept in a file per report:
no file's times can say when a report came (SECURITY.md, "A seized disk").
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.utils import random as random_bytes
from sqlalchemy import Connection, Engine, create_engine, delete, event, func, select, update
from sqlalchemy.exc import IntegrityError

from app.blobstore import CHUNK_BYTES, BlobStore, pid_alive, retire_legacy_files
from app.commit import FileLock, GroupCommit
from app.config import Config
from app.errors import StorageError
from app.inserter import GroupInserter
from app.models import attachments, chain_state, reports
from app.pending import PendingReport
from contract import DataDir
from keys.batch import GENESIS

IMMEDIATE = "skrynka_immediate"
ROOM_CACHE_SECONDS = 1.0
#: A database page: an attachment piece is charged in whole pages.
BLOCK_BYTES = 4096
#: A database row with its index entries: charged per report and per attachment.
ROW_BYTES = 256
#: After a checkpoint the WAL is cut back to this size (attachments pass through it).
WAL_LIMIT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ChainState:
    chain_id: bytes
    last_seq: int
    last_chain: bytes
    exported_seq: int
    exported_chain: bytes
    unexported_bytes: int


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_cost(size: int) -> int:
    """What an attachment envelope of ``size`` bytes costs in the database: its
    pieces in whole pages, and a row per piece."""
    pieces = max(1, -(-size // CHUNK_BYTES))
    return -(-size // BLOCK_BYTES) * BLOCK_BYTES + pieces * ROW_BYTES


def charged_bytes(envelope_size: int, files: Sequence[int]) -> int:
    """What a report costs the storage budget, as stored: its row with its envelope,
    and per attachment its row and :func:`file_cost` of its envelope size.

    The report's ``stored_bytes`` keeps the charge, and an export gives back
    exactly the sum of its reports' ``stored_bytes`` (:meth:`Store.mark_exported`),
    so a hundred tiny files cost what they take on disk, not their byte count."""
    return ROW_BYTES + envelope_size + sum(ROW_BYTES + file_cost(f) for f in files)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str) -> Engine:
    """An engine with Skrynka's durability settings (SQLite: WAL, FULL sync)."""
    # Up to 40 connections per process, one per gunicorn thread (gunicorn.conf.py), and
    # 2 workers stay under PostgreSQL's default max_connections (100). A thread holds one
    # only for a statement or a transaction, never for a whole upload.
    pool = {"pool_size": 4, "max_overflow": 36, "pool_timeout": 60}
    if not is_sqlite(url):
        return create_engine(url, pool_pre_ping=True, **pool)  # type: ignore[arg-type]
    engine = create_engine(url, connect_args={"timeout": 30}, **pool)  # type: ignore[arg-type]

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "busy_timeout=30000",
            "secure_delete=ON",
            f"journal_size_limit={WAL_LIMIT_BYTES}",
            "foreign_keys=ON",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def open_store(config: Config) -> Store:
    """The :class:`Store` of a configured server (close it when done)."""
    return Store(config.database_url, config.paths, config.budget_bytes,
                 config.text_reserve_bytes)


class Store:
    """The reports database and the blob directory of one server."""

    def __init__(self, url: str, paths: DataDir, budget_bytes: int,
                 reserve_bytes: int = 0) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.paths = paths
        self.blobs = BlobStore(self.engine)
        self.budget_bytes = budget_bytes
        self.reserve_bytes = reserve_bytes  # the budget's part only text-only reports may use
        self._file_lock = FileLock(paths.write_lock) if is_sqlite(url) else None
        self._inserter = GroupInserter(self.engine, budget_bytes, reserve_bytes)
        self._commits = GroupCommit(self._inserter.write, self._file_lock)
        self._seen, self._seen_at = 0, -ROOM_CACHE_SECONDS  # see has_room

    def close(self) -> None:
        self.engine.dispose()
        if self._file_lock is not None:
            self._file_lock.close()

    def retire_legacy_files(self) -> int:
        """Overwrite and remove ``incoming/`` and ``blobs/`` of the old layout (their
        contents are in ``blob_chunks`` since migration 0002)."""
        return retire_legacy_files((self.paths.root / "incoming", self.paths.root / "blobs"))

    def _locked(self) -> Connection:
        """A connection whose next transaction locks the database for writing."""
        return self.engine.connect().execution_options(**{IMMEDIATE: True})

    @staticmethod
    def _lock_state(conn: Connection) -> ChainState:
        row = conn.execute(
            select(chain_state).where(chain_state.c.id == 1).with_for_update()
        ).one_or_none()
        if row is None:
            raise StorageError(
                "the database has no chain yet", hint="run `python -m app init` first"
            )
        return ChainState(
            row.chain_id, row.last_seq, row.last_chain, row.exported_seq,
            row.exported_chain, row.unexported_bytes,
        )

    def ensure_chain(self) -> bool:
        """Create the chain row (random chain id) if missing; True if created."""
        try:
            with self._locked() as conn, conn.begin():
                if conn.execute(select(chain_state.c.id)).first() is not None:
                    return False
                conn.execute(
                    chain_state.insert().values(
                        id=1, chain_id=random_bytes(16), last_seq=0, last_chain=GENESIS,
                        exported_seq=0, exported_chain=GENESIS, unexported_bytes=0,
                    )
                )
            return True
        except IntegrityError:
            return False  # another process created it at the same moment

    def state(self) -> ChainState:
        with self.engine.connect() as conn, conn.begin():
            return self._lock_state(conn)

    def unexported_bytes(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(select(chain_state.c.unexported_bytes)).scalar()
        return int(value or 0)

    def has_room(self, declared: int, *, files: bool) -> bool:
        """A quick check before a body is read: could ``declared`` more bytes fit?

        ``files``: the report may have attachments, so it must leave the text-only
        reserve free. Answers from this process's last look at the running total
        when that is under a second old and says there is room; the commit checks
        again, exactly, under the lock. "Full" is always confirmed by the
        database, so space freed by an export is seen at once.
        """
        limit = self._inserter.limit(files)
        now = time.monotonic()
        if now - self._seen_at < ROOM_CACHE_SECONDS and self._seen + declared <= limit:
            return True
        used = self.unexported_bytes()
        self._seen, self._seen_at = used, now
        return used + declared <= limit

    def store_report(self, pending: PendingReport, day: str) -> int:
        """Durably store a sealed report; returns its sequence number.

        StorageFull (nothing stored) if it would exceed the budget or the disk; the
        attachments' pieces are then the caller's to discard.
        """
        charge = charged_bytes(len(pending.envelope), [a.size for a in pending.attachments])
        return self._insert(pending, day, charge)

    def _insert(self, pending: PendingReport, day: str, charge: int) -> int:
        seq = self._commits.submit((pending, day, charge))
        self._seen, self._seen_at = self._inserter.used, time.monotonic()
        return seq

    # --- reading -------------------------------------------------------------

    def report_envelope(self, seq: int) -> bytes:
        with self.engine.connect() as conn:
            value = conn.execute(select(reports.c.envelope).where(reports.c.seq == seq)).scalar()
        if value is None:
            raise StorageError(f"report {seq} is not in the database")
        return bytes(value)


    def unexported(self, after_seq: int) -> list[Any]:
        """Rows of reports after ``after_seq`` (seq order), without envelopes."""
        return self.stored(after_seq + 1)

    def stored(self, first: int, last: int | None = None) -> list[Any]:
        """Rows of the reports still stored from seq ``first`` to ``last`` (default: the
        newest), in seq order, without envelopes."""
        span = [reports.c.seq >= first] + ([] if last is None else [reports.c.seq <= last])
        with self.engine.connect() as conn:
            return list(conn.execute(
                select(
                    reports.c.seq, reports.c.report_id, reports.c.day, reports.c.envelope_size,
                    reports.c.envelope_sha256, reports.c.chain, reports.c.stored_bytes,
                    reports.c.exported_day,
                ).where(*span).order_by(reports.c.seq)
            ))

    def first_stored(self) -> int | None:
        """The lowest seq still in the database (None: no report is)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(func.min(reports.c.seq))).scalar()
        return None if value is None else int(value)

    def attachments_of(self, seqs: list[int]) -> dict[int, list[Any]]:
        out: dict[int, list[Any]] = {seq: [] for seq in seqs}
        with self.engine.connect() as conn:
            for start in range(0, len(seqs), 500):
                rows = conn.execute(
                    select(attachments)
                    .where(attachments.c.report_seq.in_(seqs[start : start + 500]))
                    .order_by(attachments.c.report_seq, attachments.c.position)
                )
                for row in rows:
                    out[row.report_seq].append(row)
        return out

    def mark_exported(
        self, prev_seq: int, last_seq: int, last_chain: bytes, batch_id: bytes, day: str,
    ) -> None:
        """Mark reports ``prev_seq+1 .. last_seq`` exported, in one transaction; the
        budget gets back exactly what they were charged (their ``stored_bytes``)."""
        span = (reports.c.seq > prev_seq, reports.c.seq <= last_seq)
        with self._locked() as conn, conn.begin():
            state = self._lock_state(conn)
            if state.exported_seq != prev_seq:
                raise StorageError("another export ran at the same time")
            exported_bytes = int(conn.execute(
                select(func.coalesce(func.sum(reports.c.stored_bytes), 0)).where(*span)
            ).scalar_one())
            conn.execute(
                update(reports).where(*span).values(exported_batch=batch_id, exported_day=day)
            )
            conn.execute(update(chain_state).where(chain_state.c.id == 1).values(
                exported_seq=last_seq, exported_chain=last_chain,
                unexported_bytes=state.unexported_bytes - exported_bytes,
            ))

    # --- purge, sweep, stats ---------------------------------------------------

    def purgeable(self, cutoff_day: str) -> list[tuple[int, str]]:
        """``(seq, exported_day)`` of the reports exported on or before ``cutoff_day``."""
        with self.engine.connect() as conn:
            return [(int(r.seq), str(r.exported_day)) for r in conn.execute(
                select(reports.c.seq, reports.c.exported_day).where(
                    reports.c.exported_day.is_not(None), reports.c.exported_day <= cutoff_day
                ).order_by(reports.c.seq)
            )]

    def purge(self, cutoff_day: str, through_seq: int | None = None) -> int:
        """Delete reports exported on or before ``cutoff_day`` (and, if given, numbered
        at most ``through_seq``: those shown to the operator); returns how many."""
        bound = [] if through_seq is None else [reports.c.seq <= through_seq]
        with self._locked() as conn, conn.begin():
            seqs = [r.seq for r in conn.execute(
                select(reports.c.seq).where(
                    reports.c.exported_day.is_not(None), reports.c.exported_day <= cutoff_day,
                    *bound,
                )
            )]
            for start in range(0, len(seqs), 500):
                chunk = seqs[start : start + 500]
                ids = [bytes(r[0]) for r in conn.execute(
                    select(attachments.c.attachment_id).where(
                        attachments.c.report_seq.in_(chunk)))]
                BlobStore.delete_of(conn, ids)
                conn.execute(delete(attachments).where(attachments.c.report_seq.in_(chunk)))
                conn.execute(delete(reports).where(reports.c.seq.in_(chunk)))
        if seqs:
            self.forget()
        return len(seqs)

    def forget(self) -> bool:
        """Leave no readable trace of deleted rows in the database's files.

        SQLite: ``secure_delete`` zeroed the freed pages (in the WAL, then in the
        database at the checkpoint); a TRUNCATE checkpoint then empties the WAL,
        which still held the pieces as they were written. It needs a moment
        without readers of older data; returns False if it never got one (the
        next purge or a stop finishes it). PostgreSQL: VACUUM FULL rewrites the
        tables into new files; its own WAL and the old files' blocks are outside
        what the app controls (SECURITY.md).
        """
        if not is_sqlite(self.url):
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM FULL reports, attachments, blob_chunks")
            return True
        db = sqlite3.connect(str(self.engine.url.database), timeout=30, isolation_level=None)
        try:
            for _ in range(50):
                busy, _log, _done = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    return True
                time.sleep(0.1)
            return False
        finally:
            db.close()

    def sweep(self, alive: bool = True) -> int:
        """Remove pieces of uploads that never became reports, and the old layout's
        files. ``alive``: other processes may be receiving, so only pieces whose
        writer is no longer running go; False at a start, when nothing runs."""
        removed = self.retire_legacy_files()
        return removed + self.blobs.drop_orphans(
            (lambda pid: not pid_alive(pid)) if alive else None)

    def drop_pieces_of(self, pid: int) -> int:
        """In gunicorn's master, when worker ``pid`` has exited: its unfinished
        uploads can never complete, so their pieces go now."""
        return self.blobs.drop_orphans(lambda owner: owner == pid)

    def stats(self) -> dict[str, int]:
        """Counts and sizes only; never contents."""
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(reports)).scalar() or 0
            unexported = conn.execute(
                select(func.count()).select_from(reports).where(reports.c.exported_day.is_(None))
            ).scalar() or 0
            stored = conn.execute(select(func.sum(reports.c.stored_bytes))).scalar() or 0
            n_att = conn.execute(select(func.count()).select_from(attachments)).scalar() or 0
        state = self.state()
        return {
            "reports": int(total),
            "unexported": int(unexported),
            "exported": int(total) - int(unexported),
            "attachments": int(n_att),
            "stored_bytes": int(stored),
            "unexported_bytes": state.unexported_bytes,
            "budget_bytes": self.budget_bytes,
            "last_seq": state.last_seq,
            "exported_seq": state.exported_seq,
        }

"""Inserting a commit group of sealed reports in one transaction, on the pooled DBAPI connection.

This is the one hot path that skips SQLAlchemy's expression layer: building
and executing Core statements cost ~0.5 ms of CPU per report, five times what
SQLite needs for the same transaction, and a small report's whole budget is
about that. The connection still comes from SQLAlchemy's pool (with the
durability pragmas of ``storage.make_engine``); the statements name the
columns of ``app/models.py`` and a test checks them against the schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from app.blobstore import is_disk_full
from app.commit import Ticket
from app.errors import StorageError, StorageFull
from app.pending import PendingReport
from keys.batch import chain_next

LOCK_STATE = "SELECT last_seq, last_chain, unexported_bytes FROM chain_state WHERE id = 1"
INSERT_REPORT = (
    "INSERT INTO reports (seq, report_id, day, envelope, envelope_size, envelope_sha256,"
    " chain, stored_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_ATTACHMENT = (
    "INSERT INTO attachments (attachment_id, report_seq, position, size, sha256)"
    " VALUES (?, ?, ?, ?, ?)"
)
UPDATE_STATE = (
    "UPDATE chain_state SET last_seq = ?, last_chain = ?, unexported_bytes = ? WHERE id = 1"
)

#: A report on its way in: the sealed report, its day, what it costs the budget
#: (app/storage.py: charged_bytes).
Entry = tuple[PendingReport, str, int]
#: One commit group: the reports that share a transaction.
Group = list[Ticket[Entry]]


class GroupInserter:
    """Numbers, chains and inserts a commit group of reports; one commit (one fsync).

    The budget is checked exactly here, under the lock: a report with attachments
    may fill it up to ``budget_bytes - reserve_bytes``, a report without any up to
    ``budget_bytes`` (so text still fits when attachments have filled the rest).
    """

    def __init__(self, engine: Engine, budget_bytes: int, reserve_bytes: int = 0) -> None:
        self.engine = engine
        self.budget_bytes = budget_bytes
        self.reserve_bytes = reserve_bytes
        self.sqlite = engine.dialect.name == "sqlite"
        style = engine.dialect.paramstyle
        if style not in ("qmark", "format", "pyformat"):
            raise StorageError(f"unsupported database driver (paramstyle {style})")
        fix: Callable[[str], str] = (
            (lambda sql: sql) if style == "qmark" else (lambda sql: sql.replace("?", "%s"))
        )
        self.lock_state = fix(LOCK_STATE + ("" if self.sqlite else " FOR UPDATE"))
        self.insert_report, self.insert_attachment = fix(INSERT_REPORT), fix(INSERT_ATTACHMENT)
        self.update_state = fix(UPDATE_STATE)
        self.dbapi_error: type[BaseException] = engine.dialect.loaded_dbapi.Error
        self.used = 0  # the running total after the last group this process wrote

    def write(self, group: Group) -> None:
        """Store what fits in the budget; set each ticket's seq or error."""
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            try:
                if self.sqlite:
                    cur.execute("BEGIN IMMEDIATE")
                cur.execute(self.lock_state)
                row = cur.fetchone()
                if row is None:
                    raise StorageError("the database has no chain yet",
                                       hint="run `python -m app init` first")
                seqs, used = self._insert(cur, group, int(row[0]), bytes(row[1]), int(row[2]))
                if self.sqlite:
                    cur.execute("COMMIT")
                else:
                    raw.commit()
            except BaseException:
                self._rollback(raw, cur)
                raise
            finally:
                cur.close()
        except self.dbapi_error as exc:
            if is_disk_full(exc):
                raise StorageFull("the disk is full") from None
            raise StorageError(f"database error: {type(exc).__name__}") from None
        finally:
            raw.close()  # back to the pool
        for ticket, seq in seqs:
            ticket.seq = seq
        self.used = used

    def _insert(self, cur: Any, group: Group, seq: int, link: bytes, used: int
                ) -> tuple[list[tuple[Ticket[Entry], int]], int]:
        reports: list[tuple[Any, ...]] = []
        attachments: list[tuple[Any, ...]] = []
        done: list[tuple[Ticket[Entry], int]] = []
        for ticket in group:
            pending, day, charge = ticket.item
            if used + charge > self.limit(bool(pending.attachments)):
                ticket.error = StorageFull("the storage budget for unexported reports is used up")
                continue
            seq += 1
            link = chain_next(link, seq, pending.report_id, pending.envelope_sha256)
            used += charge
            reports.append((seq, pending.report_id, day, pending.envelope, len(pending.envelope),
                            pending.envelope_sha256, link, charge))
            attachments += [
                (att.attachment_id, seq, position, att.size, att.sha256)
                for position, att in enumerate(pending.attachments)
            ]
            done.append((ticket, seq))
        if reports:
            cur.executemany(self.insert_report, reports)
            if attachments:
                cur.executemany(self.insert_attachment, attachments)
            cur.execute(self.update_state, (seq, link, used))
        return done, used

    def limit(self, files: bool) -> int:
        """How far the running total may go with a report with (or without) files."""
        return self.budget_bytes - (self.reserve_bytes if files else 0)

    def _rollback(self, raw: Any, cur: Any) -> None:
        try:
            if self.sqlite:
                cur.execute("ROLLBACK")
            else:
                raw.rollback()
        except self.dbapi_error:
            pass  # no transaction was open, or the connection is gone

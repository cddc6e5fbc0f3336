"""Attachment envelopes inside the database, written piece by piece as they arrive.

A file per attachment told a seized disk when each report came: its birth,
change and modification times are the upload's, to the nanosecond, and
deleted inodes keep them. Rows of ``blob_chunks`` carry no time; the database
files' own times are pinned to the day by app/dayclock.py.

A piece (at most :data:`CHUNK_BYTES` of ciphertext) is inserted in its own short
transaction that is not synced on its own: the report's commit syncs the log
that holds it (SQLite WAL: ``synchronous=FULL`` at that commit; PostgreSQL:
a synchronous commit flushes the WAL up to itself). A power cut before that
commit loses only pieces of a report that was never acknowledged.

Pieces of an upload that never became a report (refused, cut off, its worker
killed) have no ``attachments`` row; :meth:`BlobStore.drop_orphans` removes them
by owner (the worker's pid) once that worker is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, select

from app.errors import StorageError, StorageFull
from app.models import attachments, blob_chunks

CHUNK_BYTES = 256 * 1024
INSERT_CHUNK = "INSERT INTO blob_chunks (attachment_id, n, owner, data) VALUES (?, ?, ?, ?)"
DELETE_CHUNKS = "DELETE FROM blob_chunks WHERE attachment_id = ?"
SELECT_CHUNK = "SELECT data FROM blob_chunks WHERE attachment_id = ? AND n = ?"


def is_disk_full(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "full" in text or "no space" in text


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BlobStore:
    """Writes, reads and removes attachment pieces on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        qmark = engine.dialect.paramstyle == "qmark"
        self._sql: Callable[[str], str] = (
            (lambda s: s) if qmark else (lambda s: s.replace("?", "%s"))
        )
        self._dbapi_error: type[BaseException] = engine.dialect.loaded_dbapi.Error

    def _run(self, sql: str, params: tuple[Any, ...], *, fetch: bool = False) -> Any:
        """One statement in its own transaction, not synced on its own (see above)."""
        raw = self.engine.raw_connection()
        cur = None
        try:
            cur = raw.cursor()
            if self.sqlite:
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("BEGIN IMMEDIATE")
            else:
                cur.execute("SET LOCAL synchronous_commit TO OFF")
            cur.execute(self._sql(sql), params)
            row = cur.fetchone() if fetch else None
            if self.sqlite:
                cur.execute("COMMIT")
            else:
                raw.commit()
            return row
        except self._dbapi_error as exc:
            self._rollback(raw, cur)
            if is_disk_full(exc):
                raise StorageFull("the disk is full") from None
            raise StorageError(f"database error: {type(exc).__name__}") from None
        finally:
            if cur is not None and self.sqlite:
                with contextlib.suppress(self._dbapi_error):
                    cur.execute("PRAGMA synchronous=FULL")
            raw.close()

    def _rollback(self, raw: Any, cur: Any) -> None:
        with contextlib.suppress(self._dbapi_error):
            if self.sqlite and cur is not None:
                cur.execute("ROLLBACK")
            elif not self.sqlite:
                raw.rollback()

    def append(self, attachment_id: bytes, n: int, owner: int, data: bytes) -> None:
        self._run(INSERT_CHUNK, (attachment_id, n, owner, data))

    def discard(self, attachment_id: bytes) -> None:
        self._run(DELETE_CHUNKS, (attachment_id,))

    def writer(self, attachment_id: bytes) -> ChunkWriter:
        return ChunkWriter(self, attachment_id, os.getpid())

    def reader(self, attachment_id: bytes) -> io.BufferedReader:
        return io.BufferedReader(ChunkReader(self, attachment_id), CHUNK_BYTES)

    def piece(self, attachment_id: bytes, n: int) -> bytes | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(blob_chunks.c.data).where(
                blob_chunks.c.attachment_id == attachment_id, blob_chunks.c.n == n)).scalar()
        return None if value is None else bytes(value)

    @staticmethod
    def delete_of(conn: Connection, attachment_ids: list[bytes]) -> None:
        """In the caller's transaction: remove these attachments' pieces."""
        for start in range(0, len(attachment_ids), 500):
            conn.execute(delete(blob_chunks).where(
                blob_chunks.c.attachment_id.in_(attachment_ids[start:start + 500])))

    def drop_orphans(self, owners: Callable[[int], bool] | None = None) -> int:
        """Remove pieces no attachment row owns whose writer ``owners(pid)`` says is
        gone (all of them when ``owners`` is None: nothing else is running)."""
        orphan = blob_chunks.c.attachment_id.not_in(select(attachments.c.attachment_id))
        with self.engine.begin() as conn:
            found = {int(r[0]) for r in conn.execute(
                select(blob_chunks.c.owner).where(orphan).distinct())}
            gone = [pid for pid in found if owners is None or owners(pid)]
            if not gone:
                return 0
            result = conn.execute(delete(blob_chunks).where(
                orphan, blob_chunks.c.owner.in_(gone)))
            return int(result.rowcount or 0)

    def orphans(self) -> int:
        """How many pieces no attachment row owns (tests and stats)."""
        orphan = blob_chunks.c.attachment_id.not_in(select(attachments.c.attachment_id))
        with self.engine.connect() as conn:
            return len(list(conn.execute(select(blob_chunks.c.id).where(orphan))))


class ChunkWriter:
    """The ``out`` of a Sealer: ciphertext into ``blob_chunks``, hashed as it goes."""

    def __init__(self, store: BlobStore, attachment_id: bytes, owner: int) -> None:
        self.store = store
        self.attachment_id = attachment_id
        self.owner = owner
        self.hash = hashlib.sha256()
        self.size = 0
        self.pieces = 0
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        self.hash.update(data)
        self.size += len(data)
        while len(self._buffer) >= CHUNK_BYTES:
            self._flush(CHUNK_BYTES)
        return len(data)

    def digest(self) -> bytes:
        return self.hash.digest()

    def _flush(self, count: int) -> None:
        piece = bytes(self._buffer[:count])
        del self._buffer[:count]
        self.store.append(self.attachment_id, self.pieces, self.owner, piece)
        self.pieces += 1

    def close(self) -> None:
        """Write what is buffered (an empty envelope still gets its one piece)."""
        if self._buffer or not self.pieces:
            self._flush(len(self._buffer))

    def discard(self) -> None:
        self._buffer.clear()
        if self.pieces:
            self.store.discard(self.attachment_id)
            self.pieces = 0


class ChunkReader(io.RawIOBase):
    """An attachment envelope read back piece by piece (for export)."""

    def __init__(self, store: BlobStore, attachment_id: bytes) -> None:
        self.store = store
        self.attachment_id = attachment_id
        self._n = 0
        self._piece = b""
        self._at = 0
        self._end = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._at >= len(self._piece):
            if self._end:
                return 0
            piece = self.store.piece(self.attachment_id, self._n)
            if piece is None:
                self._end = True
                return 0
            self._piece, self._at, self._n = piece, 0, self._n + 1
        count = min(len(buffer), len(self._piece) - self._at)
        buffer[:count] = self._piece[self._at:self._at + count]
        self._at += count
        return count


def retire_legacy_files(folders: Iterable[Path]) -> int:
    """Overwrite with zeros, then remove, the files of the old layout (``incoming/``
    and ``blobs/``, before migration 0002) and their folders; returns how many."""
    removed = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in _files(folder):
            _overwrite(path)
            path.unlink()
            removed += 1
        with contextlib.suppress(OSError):
            folder.rmdir()
    return removed


def _files(folder: Path) -> Iterator[Path]:
    yield from (p for p in folder.iterdir() if p.is_file() and not p.is_symlink())


def _overwrite(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as f:
        zeros = bytes(min(size, CHUNK_BYTES))
        left = size
        while left > 0:
            left -= f.write(zeros[:left])
        f.flush()
        os.fsync(f.fileno())

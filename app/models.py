"""The database schema (SQLAlchemy Core). Alembic's migrations must match it.

Only ciphertext and coarse bookkeeping are stored: a report's envelope, its
hashes and chain link, the UTC day it arrived; attachments' envelopes are rows
of ``blob_chunks`` (inside the database, so no file per report says when it
came: SECURITY.md, "A seized disk").
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

#: One row (id = 1): the server's chain and its running totals.
chain_state = Table(
    "chain_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("chain_id", LargeBinary(16), nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_chain", LargeBinary(32), nullable=False),
    Column("exported_seq", BigInteger, nullable=False),
    Column("exported_chain", LargeBinary(32), nullable=False),
    Column("unexported_bytes", BigInteger, nullable=False),
)

reports = Table(
    "reports",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("report_id", LargeBinary(16), nullable=False, unique=True),
    Column("day", String(10), nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("envelope_size", Integer, nullable=False),
    Column("envelope_sha256", LargeBinary(32), nullable=False),
    Column("chain", LargeBinary(32), nullable=False),
    Column("stored_bytes", BigInteger, nullable=False),
    Column("exported_batch", LargeBinary(16), nullable=True),
    Column("exported_day", String(10), nullable=True, index=True),
)

attachments = Table(
    "attachments",
    metadata,
    Column("attachment_id", LargeBinary(16), primary_key=True),
    Column(
        "report_seq",
        BigInteger,
        ForeignKey("reports.seq", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("position", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", LargeBinary(32), nullable=False),
    UniqueConstraint("report_seq", "position", name="uq_attachments_report_seq_position"),
)

#: Attachment envelopes, in pieces of at most ``app.blobstore.CHUNK_BYTES``, written
#: as the upload arrives. ``owner`` is the worker's pid: the pieces of an upload that
#: never became a report (no ``attachments`` row) are removed when that worker is
#: gone. No foreign key: the pieces exist before their attachment row does.
blob_chunks = Table(
    "blob_chunks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("attachment_id", LargeBinary(16), nullable=False),
    Column("n", Integer, nullable=False),
    Column("owner", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    UniqueConstraint("attachment_id", "n", name="uq_blob_chunks_attachment_id_n"),
)

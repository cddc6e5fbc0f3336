"""attachments in the database: blob_chunks replaces the files in <data>/blobs

A file per attachment told a seized disk when each report came (its birth,
change and modification times); rows inside the database do not. Upgrade reads
every attachment's file into ``blob_chunks``; ``python -m app init`` then
overwrites and removes the old files (SECURITY.md, "A seized disk"). Downgrade
writes the rows back out as files.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CHUNK = 256 * 1024

attachments = sa.table(
    "attachments", sa.column("attachment_id", sa.LargeBinary), sa.column("blob", sa.String),
)
chunks = sa.table(
    "blob_chunks", sa.column("attachment_id", sa.LargeBinary), sa.column("n", sa.Integer),
    sa.column("owner", sa.Integer), sa.column("data", sa.LargeBinary),
)


def legacy_blobs() -> Path:
    """``<data>/blobs``: given by the caller (app/migrate.py), else next to a SQLite
    database, else under $SKRYNKA_DATA."""
    given = op.get_context().config.attributes.get("legacy_blobs")  # type: ignore[union-attr]
    if given:
        return Path(given)
    url = op.get_bind().engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        return Path(url.database).resolve().parent / "blobs"
    from contract import DataDir

    return DataDir.from_env().root / "blobs"


def upgrade() -> None:
    op.create_table(
        "blob_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attachment_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("owner", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blob_chunks")),
        sa.UniqueConstraint("attachment_id", "n", name="uq_blob_chunks_attachment_id_n"),
    )
    bind = op.get_bind()
    rows = list(bind.execute(sa.select(attachments.c.attachment_id, attachments.c.blob)))
    folder = legacy_blobs()
    for attachment_id, blob in rows:
        path = folder / blob
        if not path.is_file():
            raise RuntimeError(f"attachment file {path} is missing: restore it, then run init")
        with path.open("rb") as f:
            for n, data in enumerate(iter(lambda: f.read(CHUNK), b"")):
                bind.execute(chunks.insert().values(
                    attachment_id=attachment_id, n=n, owner=0, data=data))
    with op.batch_alter_table("attachments") as batch:
        batch.drop_constraint("uq_attachments_blob", type_="unique")
        batch.drop_column("blob")


def downgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.add_column(sa.Column("blob", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    folder = legacy_blobs()
    ids = [r[0] for r in bind.execute(sa.select(attachments.c.attachment_id))]
    if ids:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for attachment_id in ids:
        name = bytes(attachment_id).hex()
        fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            for (data,) in bind.execute(
                sa.select(chunks.c.data).where(chunks.c.attachment_id == attachment_id)
                .order_by(chunks.c.n)
            ):
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        bind.execute(attachments.update().where(attachments.c.attachment_id == attachment_id)
                     .values(blob=name))
    with op.batch_alter_table("attachments") as batch:
        batch.alter_column("blob", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint("uq_attachments_blob", ["blob"])
    op.drop_table("blob_chunks")

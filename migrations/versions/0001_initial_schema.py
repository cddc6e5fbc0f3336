"""initial schema: chain_state, reports, attachments

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("chain_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_chain", sa.LargeBinary(length=32), nullable=False),
        sa.Column("exported_seq", sa.BigInteger(), nullable=False),
        sa.Column("exported_chain", sa.LargeBinary(length=32), nullable=False),
        sa.Column("unexported_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_state")),
    )
    op.create_table(
        "reports",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("report_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("envelope_size", sa.Integer(), nullable=False),
        sa.Column("envelope_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("chain", sa.LargeBinary(length=32), nullable=False),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.Column("exported_batch", sa.LargeBinary(length=16), nullable=True),
        sa.Column("exported_day", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_reports")),
        sa.UniqueConstraint("report_id", name=op.f("uq_reports_report_id")),
    )
    op.create_index(op.f("ix_reports_exported_day"), "reports", ["exported_day"], unique=False)
    op.create_table(
        "attachments",
        sa.Column("attachment_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("report_seq", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("blob", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_seq"], ["reports.seq"],
            name=op.f("fk_attachments_report_seq_reports"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attachment_id", name=op.f("pk_attachments")),
        sa.UniqueConstraint("blob", name=op.f("uq_attachments_blob")),
        sa.UniqueConstraint(
            "report_seq", "position", name="uq_attachments_report_seq_position"
        ),
    )


def downgrade() -> None:
    op.drop_table("attachments")
    op.drop_index(op.f("ix_reports_exported_day"), table_name="reports")
    op.drop_table("reports")
    op.drop_table("chain_state")

"""case_keys: a case's key in an external system (the CAM Pegasus record of an agent)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create case_keys, unique per system and key."""
    op.create_table(
        "case_keys",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_keys_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_keys")),
        sa.UniqueConstraint("system", "key", name=op.f("uq_case_keys_system_key")),
    )
    with op.batch_alter_table("case_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_keys_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    """Drop case_keys."""
    with op.batch_alter_table("case_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_keys_case_id"))
    op.drop_table("case_keys")

"""chat_links: chat accounts linked by an e-mailed code, the codes, the daily refusals

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    """The autoincrement primary key column every table shares."""
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def upgrade() -> None:
    """Create chat_links, chat_link_codes and chat_refusals."""
    op.create_table(
        "chat_links",
        _id(),
        sa.Column("channel", sa.String(length=16), nullable=False),
        # Telegram user ids exceed 2**31: 64-bit on every backend.
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_links")),
        sa.UniqueConstraint("channel", "user_id", name=op.f("uq_chat_links_channel_user_id")),
    )
    op.create_table(
        "chat_link_codes",
        _id(),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_link_codes")),
    )
    with op.batch_alter_table("chat_link_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chat_link_codes_channel_user_id_created_at",
            ["channel", "user_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_chat_link_codes_email_created_at", ["email", "created_at"], unique=False
        )
    op.create_table(
        "chat_refusals",
        _id(),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_refusals")),
        sa.UniqueConstraint(
            "channel", "user_id", "day", name=op.f("uq_chat_refusals_channel_user_id_day")
        ),
    )


def downgrade() -> None:
    """Drop the three tables: linked accounts must link again (or use config.toml ids)."""
    op.drop_table("chat_refusals")
    with op.batch_alter_table("chat_link_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_link_codes_email_created_at")
        batch_op.drop_index("ix_chat_link_codes_channel_user_id_created_at")
    op.drop_table("chat_link_codes")
    op.drop_table("chat_links")

"""auto_mail: automatic mail per recipient, for the caps

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Rows copied per INSERT when filling the table from the outbox.
BATCH = 1000


def upgrade() -> None:
    """Create auto_mail and fill it from the automatic mail already in the outbox."""
    auto_mail = op.create_table(
        "auto_mail",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("template", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_mail")),
    )
    with op.batch_alter_table("auto_mail", schema=None) as batch_op:
        batch_op.create_index(
            "ix_auto_mail_address_created_at", ["address", "created_at"], unique=False
        )

    # The caps must keep counting what was queued before the upgrade. Every recipient is
    # copied, team included: who is in the team is configuration, unknown here, and the
    # caps only ever ask about addresses outside it.
    outbox = sa.table(
        "outbox",
        sa.column("auto", sa.String()),
        sa.column("recipients", sa.Text()),
        sa.column("payload", sa.JSON()),
        sa.column("created_at", sa.DateTime()),
    )
    rows = (
        op.get_bind()
        .execute(
            sa.select(
                outbox.c.recipients,
                outbox.c.payload["template"].as_string(),
                outbox.c.created_at,
            ).where(outbox.c.auto.is_not(None))
        )
        .all()
    )
    batch: list[dict[str, object]] = []
    for recipients, template, created_at in rows:
        for address in filter(None, (recipients or "").split(",")):
            batch.append(
                {
                    "address": address[:320],
                    "template": (template or "")[:200],
                    "created_at": created_at,
                }
            )
        if len(batch) >= BATCH:
            op.bulk_insert(auto_mail, batch)
            batch = []
    if batch:
        op.bulk_insert(auto_mail, batch)


def downgrade() -> None:
    """Drop auto_mail (the outbox still holds every recipient)."""
    with op.batch_alter_table("auto_mail", schema=None) as batch_op:
        batch_op.drop_index("ix_auto_mail_address_created_at")
    op.drop_table("auto_mail")

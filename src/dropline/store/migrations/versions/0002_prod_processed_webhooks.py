"""processed webhooks (incoming provider events already handled); wider outbox ids

The Redis engine's event ids (``evt_<stream entry id>.<drop id>``) are longer than the
40 characters ``outbox.id`` had: PostgreSQL refused them when hold events were drained.
``webhook_deliveries.event_id`` holds outbox ids too (a ``hold.*`` subscription).

Revision ID: 0002_prod
Revises: 0003_fulfilment
Create Date: 2026-11-22 03:50:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002_prod"
down_revision: str | Sequence[str] | None = "0003_fulfilment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "event_id",
            existing_type=sa.String(length=40),
            type_=sa.String(length=80),
            existing_nullable=False,
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column(
            "id",
            existing_type=sa.String(length=40),
            type_=sa.String(length=80),
            existing_nullable=False,
        )
    op.create_table(
        "processed_webhooks",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_processed_webhooks")),
    )
    with op.batch_alter_table("processed_webhooks", schema=None) as batch_op:
        batch_op.create_index(
            "uq_processed_webhooks_source_event", ["source", "event_id"], unique=True
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("processed_webhooks", schema=None) as batch_op:
        batch_op.drop_index("uq_processed_webhooks_source_event")
    op.drop_table("processed_webhooks")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column(
            "id",
            existing_type=sa.String(length=80),
            type_=sa.String(length=40),
            existing_nullable=False,
        )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "event_id",
            existing_type=sa.String(length=80),
            type_=sa.String(length=40),
            existing_nullable=False,
        )

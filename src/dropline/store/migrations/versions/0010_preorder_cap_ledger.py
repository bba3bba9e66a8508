"""preorder_cap_changes: the append-only ledger of pre-order caps, backfilled

Every change of a drop's pre-order cap gets a row (the units a drop may promise from a
production run; not stock, they do not exist yet). Pre-order offers made before this
revision get one row each with their current cap, so the report's units check balances
for them too.

Revision ID: 0010_preorder_cap_ledger
Revises: 0009_returns
Create Date: 2026-12-01 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010_preorder_cap_ledger"
down_revision: str | Sequence[str] | None = "0009_returns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "preorder_cap_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("drop_id", sa.String(length=40), nullable=False),
        sa.Column("sku_id", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("cap", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("delta <> 0", name=op.f("ck_preorder_cap_changes_delta_nonzero")),
        sa.CheckConstraint("cap >= 0", name=op.f("ck_preorder_cap_changes_cap_nonneg")),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["production_runs.id"],
            name=op.f("fk_preorder_cap_changes_run_id_production_runs"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_preorder_cap_changes")),
    )
    with op.batch_alter_table("preorder_cap_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_preorder_cap_changes_drop_id"), ["drop_id"], unique=False
        )
    op.execute(
        "INSERT INTO preorder_cap_changes (drop_id, sku_id, run_id, delta, cap, created_at) "
        "SELECT p.drop_id, p.sku_id, p.run_id, o.offered, o.offered, p.created_at "
        "FROM preorder_offers p JOIN drop_offers o "
        "ON o.drop_id = p.drop_id AND o.sku_id = p.sku_id "
        "WHERE o.offered > 0 ORDER BY p.created_at, p.drop_id, p.sku_id"
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("preorder_cap_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_preorder_cap_changes_drop_id"))
    op.drop_table("preorder_cap_changes")

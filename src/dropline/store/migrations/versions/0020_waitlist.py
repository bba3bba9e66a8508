"""waitlist: waitlist settings, entries, draws; restock waves

A drop's waitlist settings (order and claim window), the buyers in line per SKU with
their claims, the recorded pre-queue draws, and scheduled restock waves. New tables
only: nothing existing changes.

Revision ID: 0020_waitlist
Revises: 0019_access_windows
Create Date: 2026-12-07 01:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0020_waitlist"
down_revision: str | Sequence[str] | None = "0019_access_windows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "waitlist_settings",
        sa.Column("drop_id", sa.String(40), sa.ForeignKey("drops.id"), primary_key=True),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("claim_window_s", sa.Integer, nullable=False),
        _ts("updated_at"),
    )
    op.create_table(
        "waitlist_entries",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False, unique=True),
        sa.Column("drop_id", sa.String(40), sa.ForeignKey("drops.id"), nullable=False),
        sa.Column("sku_id", sa.String(40), sa.ForeignKey("skus.id"), nullable=False),
        sa.Column("buyer_id", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("pre_queue", sa.Boolean, nullable=False),
        sa.Column("rank", sa.Integer, nullable=True),
        _ts("joined_at"),
        sa.Column("hold_id", sa.String(40), nullable=True),
        _ts("offered_at", True),
        _ts("claim_expires_at", True),
        sa.Column("claim_nonce", sa.String(40), nullable=True),
        _ts("claim_opened_at", True),
        _ts("finished_at", True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("open_key", sa.String(300), nullable=True, unique=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_waitlist_entries_line", "waitlist_entries", ["drop_id", "sku_id", "status"])
    op.create_table(
        "waitlist_draws",
        sa.Column("drop_id", sa.String(40), sa.ForeignKey("drops.id"), primary_key=True),
        sa.Column("sku_id", sa.String(40), sa.ForeignKey("skus.id"), primary_key=True),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("entry_ids", sa.JSON, nullable=False),
        _ts("drawn_at"),
    )
    op.create_table(
        "restock_waves",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("drop_id", sa.String(40), sa.ForeignKey("drops.id"), nullable=False),
        sa.Column("sku_id", sa.String(40), sa.ForeignKey("skus.id"), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        _ts("at"),
        sa.Column("source_kind", sa.String(8), nullable=False),
        sa.Column("source_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("waitlisted", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        _ts("created_at"),
        _ts("applied_at", True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_restock_waves_quantity"),
    )
    op.create_index("ix_restock_waves_drop_id", "restock_waves", ["drop_id"])
    op.create_index("ix_restock_waves_due", "restock_waves", ["status", "at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_restock_waves_due", "restock_waves")
    op.drop_index("ix_restock_waves_drop_id", "restock_waves")
    op.drop_table("restock_waves")
    op.drop_table("waitlist_draws")
    op.drop_index("ix_waitlist_entries_line", "waitlist_entries")
    op.drop_table("waitlist_entries")
    op.drop_table("waitlist_settings")

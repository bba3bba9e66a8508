"""funnel: drop_views, refused_taps, host_cues

Next-drop insight: the overlay's view counters per drop, SKU and channel (the top of
the funnel), holds refused because a SKU was sold out per drop, SKU and buyer (the
demand left unserved), and the host's cues during a stream (the cue timeline and its
lift). New tables only: nothing existing changes.

Revision ID: 0021_funnel
Revises: 0020_waitlist
Create Date: 2026-12-07 01:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0021_funnel"
down_revision: str | Sequence[str] | None = "0020_waitlist"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "drop_views",
        sa.Column("drop_id", sa.String(40), sa.ForeignKey("drops.id"), primary_key=True),
        sa.Column("sku_id", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(40), primary_key=True),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("views >= 0", name=op.f("ck_drop_views_views_nonneg")),
    )
    op.create_table(
        "refused_taps",
        sa.Column("drop_id", sa.String(40), sa.ForeignKey("drops.id"), primary_key=True),
        sa.Column("sku_id", sa.String(40), primary_key=True),
        sa.Column("buyer_id", sa.String(120), primary_key=True),
        sa.Column("taps", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("first_at", TS, nullable=False),
        sa.CheckConstraint("taps > 0 AND units > 0", name=op.f("ck_refused_taps_taps_pos")),
    )
    op.create_table(
        "host_cues",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("drop_id", sa.String(40), sa.ForeignKey("drops.id"), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("sku_id", sa.String(40), nullable=True),
        sa.Column("product_id", sa.String(40), nullable=True),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_host_cues_drop_id", "host_cues", ["drop_id"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_host_cues_drop_id", table_name="host_cues")
    op.drop_table("host_cues")
    op.drop_table("refused_taps")
    op.drop_table("drop_views")

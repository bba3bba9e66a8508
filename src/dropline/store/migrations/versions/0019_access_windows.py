"""access windows: drop_access

A drop's access windows (who may buy from when, with what allocation) and its rate
limits and buyer-token max age: one row per drop that has any. New table only.

Revision ID: 0019_access_windows
Revises: 0018_drop_schedule
Create Date: 2026-12-07 01:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0019_access_windows"
down_revision: str | Sequence[str] | None = "0018_drop_schedule"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "drop_access",
        sa.Column("drop_id", sa.String(40), sa.ForeignKey("drops.id"), primary_key=True),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("holds_per_buyer", sa.Integer(), nullable=True),
        sa.Column("holds_per_address", sa.Integer(), nullable=True),
        sa.Column("checkouts_per_buyer", sa.Integer(), nullable=True),
        sa.Column("checkouts_per_address", sa.Integer(), nullable=True),
        sa.Column("token_max_age_s", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("drop_access")

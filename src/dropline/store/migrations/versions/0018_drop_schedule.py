"""drop schedule: drops.ends_at

A drop's scheduled end (the start is ``drops.starts_at``, already there): the schedule
job ends a live or paused drop at this time. One nullable column: existing drops keep
no end.

Revision ID: 0018_drop_schedule
Revises: 0017_catalog_archive
Create Date: 2026-12-06 22:45:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0018_drop_schedule"
down_revision: str | Sequence[str] | None = "0017_catalog_archive"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("drops") as batch:
        batch.add_column(sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("drops") as batch:
        batch.drop_column("ends_at")

"""waitlist tiers: the buyer's tiers on each waitlist entry

A waitlist entry records the tiers of the buyer token it joined with, so the line
serves an entry only once a window admitting those tiers has opened (a pre-queue
buyer of the public window is not served in the gold window). One column on
``waitlist_entries``: the tiers as normalised text (sorted tier names separated by one
space; tier names have no spaces). Existing entries get ``""``: no tiers, the public.

Revision ID: 0024_waitlist_tiers
Revises: 0022_autocharge
Create Date: 2026-12-08 01:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0024_waitlist_tiers"
down_revision: str | Sequence[str] | None = "0023_wave_reopen"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("waitlist_entries") as batch:
        batch.add_column(sa.Column("tiers", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("waitlist_entries") as batch:
        batch.drop_column("tiers")

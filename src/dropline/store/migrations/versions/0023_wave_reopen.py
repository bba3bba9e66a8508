"""wave reopen: a restock wave planned on an ended drop reopens it

Two columns on ``restock_waves``: ``reopens`` (the wave was planned on an ended drop,
so applying it reopens the drop; existing waves were planned on live or paused drops:
false) and ``ends_at`` (when the reopened sale ends again; null: no end).

Revision ID: 0023_wave_reopen
Revises: 0022_autocharge
Create Date: 2026-12-07 08:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0023_wave_reopen"
down_revision: str | Sequence[str] | None = "0022_autocharge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("restock_waves") as batch:
        batch.add_column(
            sa.Column("reopens", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("restock_waves") as batch:
        batch.drop_column("ends_at")
        batch.drop_column("reopens")

"""drops.catalog_version: bumped on every change to what a drop sells

The drop catalog cache (``services/live/drop_catalog.py``) compares this one integer to
decide whether its entry is still current, instead of reloading the drop's offers,
SKUs, products and bundles every couple of seconds (tens of thousands of rows for a
large drop, parsed on the event loop).

Revision ID: 0006_catalog_version
Revises: 0002_prod
Create Date: 2026-11-27 16:45:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006_catalog_version"
down_revision: str | Sequence[str] | None = "0002_prod"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("drops", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("catalog_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("drops", schema=None) as batch_op:
        batch_op.drop_column("catalog_version")

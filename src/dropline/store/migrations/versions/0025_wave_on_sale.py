"""wave on sale: what a restock wave's units did, recorded as it happens

Three columns on ``restock_waves``, each a count of the wave's units:
``for_waitlist`` (still behind the SKU's latched waitlist gate, kept for buyers in line
whose access window has not opened, or whose open windows' units are taken),
``on_sale`` (went on sale: at once, or when the gate opened) and ``back_in_stock``
(still kept for the line when the drop ended, so they went back to ``available`` with
the rest). With ``waitlisted`` (the claims that took them) they add up to the wave's
``quantity`` once it is done. Before, ``on_sale`` was read as quantity − waitlisted;
the waves done by then keep that reading.

Revision ID: 0025_wave_on_sale
Revises: 0024_waitlist_tiers
Create Date: 2026-12-09 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0025_wave_on_sale"
down_revision: str | Sequence[str] | None = "0024_waitlist_tiers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("for_waitlist", "on_sale", "back_in_stock")


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("restock_waves") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer, nullable=False, server_default="0"))
    waves = sa.table(
        "restock_waves",
        sa.column("status", sa.String),
        sa.column("quantity", sa.BigInteger),
        sa.column("waitlisted", sa.Integer),
        sa.column("on_sale", sa.Integer),
    )
    op.execute(
        waves.update()
        .where(waves.c.status == "done")
        .values(on_sale=waves.c.quantity - waves.c.waitlisted)
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("restock_waves") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)

"""autocharge: a saved payment method on waitlist entries, and its charge

A buyer may save a payment method when joining a waitlist; when a unit is allocated to
them (a claim hold placed) it is charged at once. Five nullable columns on
``waitlist_entries``: the provider's token for the saved method, the charge's status
(``charging``, ``succeeded``, ``failed``), the checkout that charged it, why a charge
failed, and when the charge finished. Existing entries have no saved method.

Revision ID: 0022_autocharge
Revises: 0021_funnel
Create Date: 2026-12-07 04:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0022_autocharge"
down_revision: str | Sequence[str] | None = "0021_funnel"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("payment_token", "charge_status", "charge_checkout_id", "charge_error", "charged_at")


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("waitlist_entries") as batch:
        batch.add_column(sa.Column("payment_token", sa.String(120), nullable=True))
        batch.add_column(sa.Column("charge_status", sa.String(10), nullable=True))
        batch.add_column(sa.Column("charge_checkout_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("charge_error", sa.String(500), nullable=True))
        batch.add_column(sa.Column("charged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("waitlist_entries") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)

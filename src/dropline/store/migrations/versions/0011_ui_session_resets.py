"""ui_session_resets: "sign out everywhere" for the /ui sessions of an API key

Revision ID: 0011_ui_session_resets
Revises: 0010_preorder_cap_ledger
Create Date: 2026-12-06 21:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dropline.store.columns import UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0011_ui_session_resets"
down_revision: str | Sequence[str] | None = "0010_preorder_cap_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "ui_session_resets",
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("reset_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_ui_session_resets")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("ui_session_resets")

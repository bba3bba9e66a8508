"""hold_event_pages: index (drop_id, seq) in place of (drop_id)

The live monitor now tails each drop's pages by ``seq`` (pages of different drops can
commit out of ``seq`` order; a drop's own cannot), and the report reads a drop's pages
in ``seq`` order: both are one range of this index.

Revision ID: 0008_hold_pages_drop_seq
Revises: 0007_hold_event_pages
Create Date: 2026-11-27 23:40:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008_hold_pages_drop_seq"
down_revision: str | Sequence[str] | None = "0007_hold_event_pages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index(
        "ix_hold_event_pages_drop_seq", "hold_event_pages", ["drop_id", "seq"], unique=False
    )
    op.drop_index(op.f("ix_hold_event_pages_drop_id"), table_name="hold_event_pages")


def downgrade() -> None:
    """Downgrade schema."""
    op.create_index(
        op.f("ix_hold_event_pages_drop_id"), "hold_event_pages", ["drop_id"], unique=False
    )
    op.drop_index("ix_hold_event_pages_drop_seq", table_name="hold_event_pages")

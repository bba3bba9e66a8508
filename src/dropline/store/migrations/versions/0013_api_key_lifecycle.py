"""api_keys: expires_at, last_used_at, replaced_by

A key may expire; the time it was last used is recorded (at most once a minute per key
per process); a rotated key names the key issued in its place. Existing keys get NULLs:
no expiry, never seen used, not rotated.

Revision ID: 0013_api_key_lifecycle
Revises: 0012_planning
Create Date: 2026-12-05 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0013_api_key_lifecycle"
down_revision: str | Sequence[str] | None = "0012_planning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("replaced_by", sa.String(length=40), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("replaced_by")
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("expires_at")

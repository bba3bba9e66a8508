"""catalog_archive: archived products, SKUs and bundles; short human order numbers

- ``products``, ``skus`` and ``bundles`` get ``archived_at``: an archived item keeps its
  history but cannot be offered or bundled until restored.
- ``drops.live_at``: when the drop first went live, for the monitor's elapsed time.
- ``order_numbers`` hands out one number per order from the database's own counter (an
  identity on PostgreSQL, AUTOINCREMENT on SQLite), starting at 1001; ``orders.number``
  keeps the printed form (``DL-1042``). Existing orders are numbered oldest first, and
  the counter continues after them.

Revision ID: 0017_catalog_archive
Revises: 0016_bins_counts
Create Date: 2026-12-08 10:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dropline.store.columns import SeqType, UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0017_catalog_archive"
down_revision: str | Sequence[str] | None = "0016_bins_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIRST_NUMBER = 1001
#: The prefix existing orders are numbered with (``DROPLINE_ORDER_PREFIX``'s default).
PREFIX = "DL"


def upgrade() -> None:
    """Upgrade schema."""
    for table in ("products", "skus", "bundles"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("archived_at", UtcDateTime(), nullable=True))
    with op.batch_alter_table("drops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("live_at", UtcDateTime(), nullable=True))
    op.create_table(
        "order_numbers",
        sa.Column("number", SeqType, sa.Identity(start=FIRST_NUMBER), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_order_numbers")),
        sa.UniqueConstraint("order_id", name=op.f("uq_order_numbers_order_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.String(length=24), nullable=True))
    # A unique index, not a constraint: SQLite adds it without copying the table.
    op.create_index(op.f("ix_orders_number"), "orders", ["number"], unique=True)

    conn = op.get_bind()
    ids = [r.id for r in conn.execute(sa.text("SELECT id FROM orders ORDER BY created_at, id"))]
    numbers = sa.table(
        "order_numbers", sa.column("number", sa.BigInteger), sa.column("order_id", sa.String)
    )
    orders = sa.table("orders", sa.column("id", sa.String), sa.column("number", sa.String))
    for n, order_id in enumerate(ids, start=FIRST_NUMBER):
        conn.execute(sa.insert(numbers).values(number=n, order_id=order_id))
        conn.execute(
            sa.update(orders).where(orders.c.id == order_id).values(number=f"{PREFIX}-{n}")
        )
    if conn.dialect.name == "postgresql":
        if ids:
            op.execute(
                "ALTER TABLE order_numbers ALTER COLUMN number "
                f"RESTART WITH {FIRST_NUMBER + len(ids)}"
            )
    elif not ids:
        # AUTOINCREMENT continues after the largest number ever used: start at 1001.
        op.execute(
            f"INSERT INTO sqlite_sequence (name, seq) VALUES ('order_numbers', {FIRST_NUMBER - 1})"
        )


def downgrade() -> None:
    """Downgrade schema."""
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of these tables
    # would fail on the foreign keys that point at them.
    op.drop_index(op.f("ix_orders_number"), table_name="orders")
    op.drop_column("orders", "number")
    op.drop_table("order_numbers")
    op.drop_column("drops", "live_at")
    for table in ("bundles", "skus", "products"):
        op.drop_column(table, "archived_at")

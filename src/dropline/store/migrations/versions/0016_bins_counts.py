"""bins_counts: bins with units per SKU, the staging plan, count sessions; readiness
(rehearsals, endpoint test deliveries, overrides); drops.rehearsal_of

The ledger learns where units are: ``stock_movements.from_bin``/``to_bin`` (NULL: not in
a bin), with ``bin_stock`` holding each bin's units per SKU. Existing stock starts
unplaced (in no bin), which is what the ledger says of it.

Revision ID: 0016_bins_counts
Revises: 0015_learning
Create Date: 2026-12-08 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0016_bins_counts"
down_revision: str | Sequence[str] | None = "0015_learning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "bins",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("zone", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bins")),
        sa.UniqueConstraint("code", name=op.f("uq_bins_code")),
    )
    op.create_table(
        "count_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("blind", sa.Boolean(), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("bins", sa.JSON(), nullable=False),
        sa.Column("skus", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("opened_by", sa.String(length=120), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=120), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("threshold >= 0", name=op.f("ck_count_sessions_threshold_nonneg")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_count_sessions")),
    )
    with op.batch_alter_table("count_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_count_sessions_status"), ["status"], unique=False)

    op.create_table(
        "endpoint_checks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("endpoint_id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_checks")),
    )
    with op.batch_alter_table("endpoint_checks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_endpoint_checks_endpoint_id"), ["endpoint_id"], unique=False
        )

    op.create_table(
        "readiness_overrides",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("drop_id", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("blocks", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["drop_id"], ["drops.id"], name=op.f("fk_readiness_overrides_drop_id_drops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_overrides")),
    )
    with op.batch_alter_table("readiness_overrides", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_readiness_overrides_drop_id"), ["drop_id"], unique=False
        )

    op.create_table(
        "rehearsals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("drop_id", sa.String(length=40), nullable=False),
        sa.Column("copy_drop_id", sa.String(length=40), nullable=True),
        sa.Column("product_id", sa.String(length=40), nullable=True),
        sa.Column("sku_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("timings", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["drop_id"], ["drops.id"], name=op.f("fk_rehearsals_drop_id_drops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rehearsals")),
    )
    with op.batch_alter_table("rehearsals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rehearsals_copy_drop_id"), ["copy_drop_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_rehearsals_drop_id"), ["drop_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rehearsals_sku_id"), ["sku_id"], unique=False)

    op.create_table(
        "bin_stock",
        sa.Column("bin_id", sa.String(length=40), nullable=False),
        sa.Column("sku_id", sa.String(length=40), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_bin_stock_qty_nonneg")),
        sa.ForeignKeyConstraint(["bin_id"], ["bins.id"], name=op.f("fk_bin_stock_bin_id_bins")),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_bin_stock_sku_id_skus")),
        sa.PrimaryKeyConstraint("bin_id", "sku_id", name=op.f("pk_bin_stock")),
    )
    with op.batch_alter_table("bin_stock", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bin_stock_sku_id"), ["sku_id"], unique=False)

    op.create_table(
        "count_lines",
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("bin_id", sa.String(length=40), nullable=False),
        sa.Column("sku_id", sa.String(length=40), nullable=False),
        sa.Column("expected", sa.BigInteger(), nullable=False),
        sa.Column("counted", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("counted_by", sa.String(length=120), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "expected >= 0 AND counted >= 0", name=op.f("ck_count_lines_qty_nonneg")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["count_sessions.id"],
            name=op.f("fk_count_lines_session_id_count_sessions"),
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_count_lines_sku_id_skus")),
        sa.PrimaryKeyConstraint("session_id", "bin_id", "sku_id", name=op.f("pk_count_lines")),
    )
    with op.batch_alter_table("count_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_count_lines_sku_id"), ["sku_id"], unique=False)

    op.create_table(
        "drop_staging",
        sa.Column("drop_id", sa.String(length=40), nullable=False),
        sa.Column("sku_id", sa.String(length=40), nullable=False),
        sa.Column("bin_id", sa.String(length=40), nullable=False),
        sa.Column("staged_by", sa.String(length=120), nullable=False),
        sa.Column("staged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["bin_id"], ["bins.id"], name=op.f("fk_drop_staging_bin_id_bins")),
        sa.ForeignKeyConstraint(
            ["drop_id"], ["drops.id"], name=op.f("fk_drop_staging_drop_id_drops")
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_drop_staging_sku_id_skus")),
        sa.PrimaryKeyConstraint("drop_id", "sku_id", name=op.f("pk_drop_staging")),
    )
    with op.batch_alter_table("drops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rehearsal_of", sa.String(length=40), nullable=True))

    with op.batch_alter_table("stock_movements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("from_bin", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("to_bin", sa.String(length=40), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("stock_movements", schema=None) as batch_op:
        batch_op.drop_column("to_bin")
        batch_op.drop_column("from_bin")

    with op.batch_alter_table("drops", schema=None) as batch_op:
        batch_op.drop_column("rehearsal_of")

    op.drop_table("drop_staging")
    with op.batch_alter_table("count_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_count_lines_sku_id"))

    op.drop_table("count_lines")
    with op.batch_alter_table("bin_stock", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bin_stock_sku_id"))

    op.drop_table("bin_stock")
    with op.batch_alter_table("rehearsals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rehearsals_sku_id"))
        batch_op.drop_index(batch_op.f("ix_rehearsals_drop_id"))
        batch_op.drop_index(batch_op.f("ix_rehearsals_copy_drop_id"))

    op.drop_table("rehearsals")
    with op.batch_alter_table("readiness_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_readiness_overrides_drop_id"))

    op.drop_table("readiness_overrides")
    with op.batch_alter_table("endpoint_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_endpoint_checks_endpoint_id"))

    op.drop_table("endpoint_checks")
    with op.batch_alter_table("count_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_count_sessions_status"))

    op.drop_table("count_sessions")
    op.drop_table("bins")

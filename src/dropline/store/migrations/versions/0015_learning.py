"""learning: problem_reports, defects, quality_alerts, quality_thresholds

Buyer-reported problems and the defects traced from approved ones (aftersales), the
quality alerts raised against a lot and its manufacturer, and the alert thresholds
(supply). New tables only: nothing existing changes.

Revision ID: 0015_learning
Revises: 0014_audit
Create Date: 2026-12-08 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0015_learning"
down_revision: str | Sequence[str] | None = "0014_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "problem_reports",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("drop_id", sa.String(40), nullable=False),
        sa.Column("buyer_id", sa.String(120), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason_code", sa.String(40), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("return_id", sa.String(40), nullable=True),
        sa.Column("decision_message", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(120), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    for col in ("order_id", "drop_id", "status"):
        op.create_index(f"ix_problem_reports_{col}", "problem_reports", [col])
    op.create_table(
        "defects",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("problem_id", sa.String(40), sa.ForeignKey("problem_reports.id"), nullable=False),
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("drop_id", sa.String(40), nullable=False),
        sa.Column("sku_id", sa.String(40), nullable=False),
        sa.Column("lot_id", sa.String(40), nullable=True),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("manufacturer_id", sa.String(40), nullable=True),
        sa.Column("reason_code", sa.String(40), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("photo_count", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_defects_qty_pos")),
    )
    for col in ("problem_id", "drop_id", "sku_id", "lot_id", "manufacturer_id"):
        op.create_index(f"ix_defects_{col}", "defects", [col])
    op.create_table(
        "quality_alerts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("lot_id", sa.String(40), sa.ForeignKey("lots.id"), nullable=False, unique=True),
        sa.Column("manufacturer_id", sa.String(40), nullable=False),
        sa.Column("sku_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("threshold_bp", sa.Integer(), nullable=False),
        sa.Column("defect_rate_bp", sa.Integer(), nullable=False),
        sa.Column("defective_units", sa.BigInteger(), nullable=False),
        sa.Column("delivered_units", sa.BigInteger(), nullable=False),
        sa.Column("contained_units", sa.BigInteger(), nullable=False),
        sa.Column("corrective_action", sa.Text(), nullable=False),
        sa.Column("closing_lot_id", sa.String(40), nullable=True),
        sa.Column("closed_by", sa.String(120), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    for col in ("manufacturer_id", "status"):
        op.create_index(f"ix_quality_alerts_{col}", "quality_alerts", [col])
    op.create_table(
        "quality_thresholds",
        sa.Column("manufacturer_id", sa.String(40), primary_key=True),
        sa.Column("threshold_bp", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "threshold_bp >= 0 AND threshold_bp <= 10000",
            name=op.f("ck_quality_thresholds_threshold_range"),
        ),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("quality_thresholds")
    op.drop_table("quality_alerts")
    op.drop_table("defects")
    op.drop_table("problem_reports")

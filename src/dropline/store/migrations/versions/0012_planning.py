"""planning: launches, their timeline milestones, scorecard versions and scenarios

Revision ID: 0012_planning
Revises: 0011_ui_session_resets
Create Date: 2026-12-06 21:10:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0012_planning"
down_revision: str | Sequence[str] | None = "0011_ui_session_resets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "launches",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("concept", sa.Text(), nullable=False),
        sa.Column("product_id", sa.String(length=40), nullable=True),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.Column("drop_id", sa.String(length=40), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("stream_date", sa.Date(), nullable=False),
        sa.Column("buffer_days", sa.Integer(), nullable=False),
        sa.Column("business_days", sa.Boolean(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("buffer_units", sa.Integer(), nullable=False),
        sa.Column("min_margin_pct", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("buffer_days >= 0", name=op.f("ck_launches_buffer_nonneg")),
        sa.ForeignKeyConstraint(["drop_id"], ["drops.id"], name=op.f("fk_launches_drop_id_drops")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_launches_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["production_runs.id"], name=op.f("fk_launches_run_id_production_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_launches")),
    )
    op.create_index(op.f("ix_launches_run_id"), "launches", ["run_id"], unique=False)
    op.create_table(
        "launch_milestones",
        sa.Column("launch_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("duration_days", sa.Integer(), nullable=False),
        sa.Column("depends_on", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("run_milestone", sa.String(length=40), nullable=True),
        sa.Column("actual_finish", sa.Date(), nullable=True),
        sa.Column("alerted_due", sa.Date(), nullable=True),
        sa.CheckConstraint("duration_days >= 0", name=op.f("ck_launch_milestones_duration_nonneg")),
        sa.ForeignKeyConstraint(
            ["launch_id"], ["launches.id"], name=op.f("fk_launch_milestones_launch_id_launches")
        ),
        sa.PrimaryKeyConstraint("launch_id", "key", name=op.f("pk_launch_milestones")),
    )
    op.create_table(
        "launch_scorecards",
        sa.Column("launch_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("go_at", sa.Integer(), nullable=False),
        sa.Column("review_at", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=10), nullable=False),
        sa.Column("changed_by", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["launch_id"], ["launches.id"], name=op.f("fk_launch_scorecards_launch_id_launches")
        ),
        sa.PrimaryKeyConstraint("launch_id", "version", name=op.f("pk_launch_scorecards")),
    )
    op.create_table(
        "launch_scenarios",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("launch_id", sa.String(length=40), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["launch_id"], ["launches.id"], name=op.f("fk_launch_scenarios_launch_id_launches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_launch_scenarios")),
    )
    op.create_index(
        op.f("ix_launch_scenarios_launch_id"), "launch_scenarios", ["launch_id"], unique=False
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f("ix_launch_scenarios_launch_id"), table_name="launch_scenarios")
    op.drop_table("launch_scenarios")
    op.drop_table("launch_scorecards")
    op.drop_table("launch_milestones")
    op.drop_index(op.f("ix_launches_run_id"), table_name="launches")
    op.drop_table("launches")

"""Tables of launch plans: the launch, its timeline milestones, its scorecard versions
and its saved first-run scenarios."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
)

from dropline.store.columns import UtcDateTime, metadata

launches = Table(
    "launches",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("concept", Text, nullable=False, default=""),
    Column("product_id", String(40), ForeignKey("products.id"), nullable=True),
    Column("run_id", String(40), ForeignKey("production_runs.id"), nullable=True, index=True),
    Column("drop_id", String(40), ForeignKey("drops.id"), nullable=True),
    Column("start_date", Date, nullable=False),
    Column("stream_date", Date, nullable=False),
    Column("buffer_days", Integer, nullable=False),
    Column("business_days", Boolean, nullable=False, default=False),
    Column("country", String(2), nullable=False, default=""),
    Column("buffer_units", Integer, nullable=False, default=0),
    Column("min_margin_pct", Integer, nullable=False, default=0),
    Column("created_by", String(120), nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    CheckConstraint("buffer_days >= 0", name="buffer_nonneg"),
)

# One row per milestone of a launch's timeline. ``run_milestone`` ties it to the linked
# run's milestone of that kind: the run then holds its actual date.
launch_milestones = Table(
    "launch_milestones",
    metadata,
    Column("launch_id", String(40), ForeignKey("launches.id"), primary_key=True),
    Column("key", String(40), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("duration_days", Integer, nullable=False),
    Column("depends_on", JSON, nullable=False),
    Column("owner", String(200), nullable=False, default=""),
    Column("run_milestone", String(40), nullable=True),
    Column("actual_finish", Date, nullable=True),
    # The due date an overdue alert was last sent for: one alert per due date.
    Column("alerted_due", Date, nullable=True),
    CheckConstraint("duration_days >= 0", name="duration_nonneg"),
)

launch_scorecards = Table(
    "launch_scorecards",
    metadata,
    Column("launch_id", String(40), ForeignKey("launches.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("scores", JSON, nullable=False),
    Column("weights", JSON, nullable=False),
    Column("go_at", Integer, nullable=False),
    Column("review_at", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("verdict", String(10), nullable=False),
    Column("changed_by", String(120), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

launch_scenarios = Table(
    "launch_scenarios",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("launch_id", String(40), ForeignKey("launches.id"), nullable=False, index=True),
    Column("inputs", JSON, nullable=False),
    Column("result", JSON, nullable=False),
    Column("created_by", String(120), nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
)

"""Tables for the live monitor and the post-stream report.

``drop_monitor_settings`` holds per-drop choices that only the monitor, the overlay
stream and the report read: how exact the public stream is, low-stock thresholds, the
post-stream conversion window, the creator (for comparing a drop with earlier ones) and
when the stream itself ended (the drop may stay open for the conversion window).
"""

from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Integer, String, Table

from dropline.store.columns import UtcDateTime, metadata

drop_monitor_settings = Table(
    "drop_monitor_settings",
    metadata,
    Column("drop_id", String(40), ForeignKey("drops.id"), primary_key=True),
    Column("stream_mode", String(10), nullable=False, default="exact"),
    Column("low_stock_default", Integer, nullable=False, default=5),
    Column("low_stock", JSON, nullable=False),
    Column("conversion_window_h", Integer, nullable=False, default=24),
    Column("creator", String(120), nullable=False, default="", index=True),
    Column("stream_ended_at", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("stream_mode IN ('exact', 'coarse')", name="stream_mode"),
    CheckConstraint(
        "low_stock_default >= 0 AND conversion_window_h >= 0", name="thresholds_nonneg"
    ),
)

"""Tables for the live monitor, the post-stream report and next-drop insight (views,
refused taps, host cues).

``drop_monitor_settings`` holds per-drop choices that only the monitor, the overlay
stream and the report read: how exact the public stream is, low-stock thresholds, the
post-stream conversion window, the creator (for comparing a drop with earlier ones) and
when the stream itself ended (the drop may stay open for the conversion window).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
)

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


# What the overlay reports it showed, as counters: one row per drop, SKU and channel,
# incremented by each batch (never a row per view; no buyer is named). ``sku_id`` is
# "" for views of the drop itself rather than of one product.
drop_views = Table(
    "drop_views",
    metadata,
    Column("drop_id", String(40), ForeignKey("drops.id"), primary_key=True),
    Column("sku_id", String(40), primary_key=True),
    Column("channel", String(40), primary_key=True),
    Column("views", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("views >= 0", name="views_nonneg"),
)

# Holds refused because a SKU was sold out: one row per drop, SKU and buyer (not per
# tap), with how many taps were refused and the units the buyer's first refused tap
# asked for. Counted in the hold service's path, flushed here in batches.
refused_taps = Table(
    "refused_taps",
    metadata,
    Column("drop_id", String(40), ForeignKey("drops.id"), primary_key=True),
    Column("sku_id", String(40), primary_key=True),
    Column("buyer_id", String(120), primary_key=True),
    Column("taps", BigInteger, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("first_at", UtcDateTime(), nullable=False),
    CheckConstraint("taps > 0 AND units > 0", name="taps_pos"),
)

# The host's cues during a stream: a product pinned, a line said, a promo announced.
host_cues = Table(
    "host_cues",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("drop_id", String(40), ForeignKey("drops.id"), nullable=False, index=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("sku_id", String(40), nullable=True),
    Column("product_id", String(40), nullable=True),
    Column("text", String(500), nullable=False),
    Column("created_by", String(120), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

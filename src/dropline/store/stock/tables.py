"""Stock tables: bucket levels per SKU, the append-only movement ledger, bins with
their units per SKU, drop staging, and count sessions.

A bucket or a bin can never go negative (check constraints), so a bug elsewhere fails
loudly.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
)

from dropline.store.columns import SeqType, metadata, ts

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("sku_id", String(40), ForeignKey("skus.id"), primary_key=True),
    Column("available", BigInteger, nullable=False, default=0),
    Column("committed", BigInteger, nullable=False, default=0),
    Column("reserved", BigInteger, nullable=False, default=0),
    Column("safety", BigInteger, nullable=False, default=0),
    Column("quality_control", BigInteger, nullable=False, default=0),
    Column("damaged", BigInteger, nullable=False, default=0),
    Column("version", Integer, nullable=False, default=1),
    CheckConstraint(
        "available >= 0 AND committed >= 0 AND reserved >= 0 AND safety >= 0 "
        "AND quality_control >= 0 AND damaged >= 0",
        name="buckets_nonneg",
    ),
)


stock_movements = Table(
    "stock_movements",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("sku_id", String(40), ForeignKey("skus.id"), nullable=False, index=True),
    Column("quantity", BigInteger, nullable=False),
    Column("from_bucket", String(20), nullable=True),
    Column("to_bucket", String(20), nullable=True),
    Column("reason", String(20), nullable=False),
    Column("ref", String(60), nullable=False, default="", index=True),
    Column("actor", String(120), nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
    ts("created_at"),
    # Where the units physically went (domain/stock/bins.py); NULL: not in a bin.
    Column("from_bin", String(40), nullable=True),
    Column("to_bin", String(40), nullable=True),
    CheckConstraint("quantity > 0", name="qty_pos"),
)


bins = Table(
    "bins",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("zone", String(40), nullable=False, default=""),
    Column("label", String(200), nullable=False, default=""),
    ts("created_at"),
)


# Units of each SKU in each bin; derivable from the ledger's from_bin/to_bin.
bin_stock = Table(
    "bin_stock",
    metadata,
    Column("bin_id", String(40), ForeignKey("bins.id"), primary_key=True),
    Column("sku_id", String(40), ForeignKey("skus.id"), primary_key=True, index=True),
    Column("quantity", BigInteger, nullable=False),
    CheckConstraint("quantity >= 0", name="qty_nonneg"),
)


# The staging plan: which bin holds each variant a drop offers.
drop_staging = Table(
    "drop_staging",
    metadata,
    Column("drop_id", String(40), ForeignKey("drops.id"), primary_key=True),
    Column("sku_id", String(40), ForeignKey("skus.id"), primary_key=True),
    Column("bin_id", String(40), ForeignKey("bins.id"), nullable=False),
    Column("staged_by", String(120), nullable=False, default=""),
    ts("staged_at"),
)


count_sessions = Table(
    "count_sessions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("status", String(20), nullable=False, index=True),
    Column("blind", Boolean, nullable=False),
    Column("threshold", BigInteger, nullable=False),
    # The bins in the session ("" = the SKUs' unplaced units) and, for a count of
    # given SKUs, those SKUs (empty: whatever is found in the bins).
    Column("bins", JSON, nullable=False),
    Column("skus", JSON, nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("opened_by", String(120), nullable=False),
    ts("opened_at"),
    Column("closed_by", String(120), nullable=False, default=""),
    ts("closed_at", nullable=True),
    Column("version", Integer, nullable=False, default=1),
    CheckConstraint("threshold >= 0", name="threshold_nonneg"),
)


count_lines = Table(
    "count_lines",
    metadata,
    Column("session_id", String(40), ForeignKey("count_sessions.id"), primary_key=True),
    Column("bin_id", String(40), primary_key=True),  # "" = unplaced
    Column("sku_id", String(40), ForeignKey("skus.id"), primary_key=True, index=True),
    Column("expected", BigInteger, nullable=False),
    Column("counted", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("counted_by", String(120), nullable=False),
    ts("counted_at"),
    Column("decided_by", String(120), nullable=False, default=""),
    ts("decided_at", nullable=True),
    Column("decision_note", Text, nullable=False, default=""),
    CheckConstraint("expected >= 0 AND counted >= 0", name="qty_nonneg"),
)

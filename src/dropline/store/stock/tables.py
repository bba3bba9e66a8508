"""Stock tables: bucket levels per SKU and the append-only movement ledger.

A bucket can never go negative (check constraints), so a bug elsewhere fails loudly.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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
    CheckConstraint("quantity > 0", name="qty_pos"),
)

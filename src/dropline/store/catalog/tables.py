"""Catalog tables: products, SKUs, bundles and their components."""

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
    Text,
)

from dropline.store.columns import metadata, ts

products = Table(
    "products",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    ts("created_at"),
    # Set when archived (kept with its history, never offered again until restored).
    ts("archived_at", nullable=True),
)


skus = Table(
    "skus",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("product_id", String(40), ForeignKey("products.id"), nullable=False, index=True),
    Column("code", String(80), nullable=False, unique=True),
    Column("price_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("safety_qty", Integer, nullable=False, default=0),
    Column("safety_pct", Integer, nullable=False, default=0),
    Column("bin_location", String(40), nullable=False, default=""),
    ts("created_at"),
    ts("archived_at", nullable=True),
    CheckConstraint("price_amount >= 0", name="price_nonneg"),
)


bundles = Table(
    "bundles",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("code", String(80), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("price_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    ts("created_at"),
    ts("archived_at", nullable=True),
    CheckConstraint("price_amount >= 0", name="price_nonneg"),
)


bundle_components = Table(
    "bundle_components",
    metadata,
    Column("bundle_id", String(40), ForeignKey("bundles.id"), primary_key=True),
    Column("sku_id", String(40), ForeignKey("skus.id"), primary_key=True),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity > 0", name="qty_pos"),
)

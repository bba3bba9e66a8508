"""Payment tables: the sandbox provider's payments and operations."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    String,
    Table,
)

from dropline.store.columns import metadata, ts

sandbox_payments = Table(
    "sandbox_payments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("payment_method", String(80), nullable=False),
    Column("decline_code", String(60), nullable=True),
    Column("refunded_amount", BigInteger, nullable=False, default=0),
    Column("metadata", JSON, nullable=False),
    ts("created_at"),
    ts("updated_at"),
)


sandbox_operations = Table(
    "sandbox_operations",
    metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("operation", String(20), nullable=False),
    Column("payment_id", String(40), nullable=False),
    Column("request_hash", String(64), nullable=False),
)

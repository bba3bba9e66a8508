"""The ``returns`` table: one row per authorised return of an order (an RMA). Its lines
are a JSON list (line number, quantity, reason, note, refund amount, SKU units and, once
received, the disposition): a return is read and written whole, never queried by line."""

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

from dropline.store.columns import UtcDateTime, metadata

returns = Table(
    "returns",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("order_id", String(40), ForeignKey("orders.id"), nullable=False, index=True),
    Column("drop_id", String(40), nullable=False, index=True),
    Column("buyer_id", String(120), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("lines", JSON, nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("currency", String(3), nullable=False),
    Column("refund_amount", BigInteger, nullable=False),
    # Set when the provider refused or could not be reached; the sweep retries.
    Column("refund_error", Text, nullable=False, default=""),
    Column("requested_by", String(120), nullable=False, default=""),
    Column("received_by", String(120), nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=True),
    Column("refunded_at", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    CheckConstraint("refund_amount >= 0", name="refund_nonneg"),
)

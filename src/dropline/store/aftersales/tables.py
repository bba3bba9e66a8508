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

# A buyer-reported problem with some lines of an order (``domain.aftersales.problems``).
# ``lines`` and ``photos`` are JSON lists read and written with the report.
problem_reports = Table(
    "problem_reports",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("order_id", String(40), ForeignKey("orders.id"), nullable=False, index=True),
    Column("drop_id", String(40), nullable=False, index=True),
    Column("buyer_id", String(120), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("reason_code", String(40), nullable=False),
    Column("lines", JSON, nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("photos", JSON, nullable=False),
    Column("via", String(20), nullable=False),
    Column("return_id", String(40), nullable=True),
    Column("decision_message", Text, nullable=False, default=""),
    Column("decided_by", String(120), nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", Integer, nullable=False, default=1),
)

# One row per defective unit group of an approved report, traced to where it was made:
# what the defect Pareto, the quality alerts and the supplier scorecard count.
defects = Table(
    "defects",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("problem_id", String(40), ForeignKey("problem_reports.id"), nullable=False, index=True),
    Column("order_id", String(40), nullable=False),
    Column("drop_id", String(40), nullable=False, index=True),
    Column("sku_id", String(40), nullable=False, index=True),
    Column("lot_id", String(40), nullable=True, index=True),
    Column("run_id", String(40), nullable=True),
    Column("manufacturer_id", String(40), nullable=True, index=True),
    Column("reason_code", String(40), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("photo_count", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("quantity > 0", name="qty_pos"),
)

"""Tables for the post-stream half: ship-to details, webhook endpoints and deliveries,
inbound fulfilment events and buyer messages. Defined on the shared ``metadata``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from dropline.store.columns import SeqType, UtcDateTime, metadata

# Ship-to and fulfilment facts of one checkout/order. Written with the checkout (the order
# does not exist yet); ``order_id`` is filled in the transaction that creates the order.
shipments = Table(
    "shipments",
    metadata,
    Column("checkout_id", String(40), primary_key=True),
    Column("order_id", String(40), ForeignKey("orders.id"), nullable=True, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("line1", String(200), nullable=False, default=""),
    Column("line2", String(200), nullable=False, default=""),
    Column("city", String(120), nullable=False, default=""),
    Column("region", String(120), nullable=False, default=""),
    Column("postal_code", String(40), nullable=False, default=""),
    Column("country", String(2), nullable=False, default=""),
    Column("email", String(254), nullable=False, default=""),
    Column("phone", String(40), nullable=False, default=""),
    Column("service_level", String(40), nullable=False, default="standard"),
    Column("ship_by", UtcDateTime(), nullable=True, index=True),
    Column("stage", String(20), nullable=False, default=""),
    Column("carrier", String(80), nullable=False, default=""),
    Column("tracking_number", String(120), nullable=False, default=""),
    Column("tracking_url", String(500), nullable=False, default=""),
    Column("shipped_at", UtcDateTime(), nullable=True),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("description", String(300), nullable=False, default=""),
    Column("event_types", JSON, nullable=False),
    Column("secret", String(100), nullable=False),
    Column("previous_secret", String(100), nullable=True),
    Column("previous_secret_expires_at", UtcDateTime(), nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    # A warehouse endpoint's 2xx to order.ready_to_fulfill hands the order off.
    Column("warehouse", Boolean, nullable=False, default=False),
    Column("disabled_reason", Text, nullable=False, default=""),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("failing_since", UtcDateTime(), nullable=True),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("endpoint_id", String(40), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("event_id", String(80), nullable=False),  # = outbox.id (engine ids ~50 chars)
    Column("event_type", String(60), nullable=False),
    Column("aggregate_type", String(30), nullable=False),
    Column("aggregate_id", String(60), nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("locked_until", UtcDateTime(), nullable=True),
    Column("lease", String(40), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=False, default=""),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_endpoint"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_aggregate", "endpoint_id", "aggregate_id", "event_seq"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", UtcDateTime(), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("response_excerpt", Text, nullable=False, default=""),
    Column("error", Text, nullable=False, default=""),
    Index("ix_webhook_attempts_delivery", "delivery_id", "attempt"),
)

# How far each background consumer has read the outbox (one row per consumer name).
outbox_cursors = Table(
    "outbox_cursors",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Inbound fulfilment events already applied, keyed on the sender's webhook-id.
inbound_events = Table(
    "inbound_events",
    metadata,
    Column("source", String(60), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("update_type", String(20), nullable=False),
    Column("order_id", String(40), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("event_id", String(40), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("order_id", String(40), nullable=True, index=True),
    Column("to_email", String(254), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text, nullable=False),
    # The templates' inputs when the bodies are rendered on sending (bodies empty then).
    Column("context", JSON(none_as_null=True), nullable=True),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("locked_until", UtcDateTime(), nullable=True),
    Column("lease", String(40), nullable=True),
    Column("last_error", Text, nullable=False, default=""),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("event_id", "kind", name="uq_messages_event_kind"),
    Index("ix_messages_due", "status", "next_attempt_at"),
)

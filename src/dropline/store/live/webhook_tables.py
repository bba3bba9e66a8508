"""Tables for the production backends: incoming provider webhooks already handled.

``processed_webhooks`` makes the incoming webhook endpoints idempotent on the sender's
event id: Stripe delivers at least once, so the same event may arrive many times (and
at several API processes at once). ``(source, event_id)`` is unique.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from dropline.store.columns import SeqType, UtcDateTime, metadata

processed_webhooks = Table(
    "processed_webhooks",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("source", String(20), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("event_type", String(80), nullable=False),
    Column("outcome", String(40), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Index("uq_processed_webhooks_source_event", "source", "event_id", unique=True),
)

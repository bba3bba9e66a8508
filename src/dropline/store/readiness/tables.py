"""Readiness tables: dress rehearsals and their verdicts, signed test deliveries to
webhook endpoints, and readiness overrides kept in a drop's history."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table, Text

from dropline.store.columns import metadata, ts

rehearsals = Table(
    "rehearsals",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("drop_id", String(40), ForeignKey("drops.id"), nullable=False, index=True),
    # The rehearsal copy of the drop and its dummy SKU (hidden from real lists).
    Column("copy_drop_id", String(40), nullable=True, index=True),
    Column("product_id", String(40), nullable=True),
    Column("sku_id", String(40), nullable=True, index=True),
    Column("status", String(20), nullable=False),  # running | passed | failed
    # [{"stage", "status", "detail", "seconds"}...] in the order they ran
    Column("stages", JSON, nullable=False),
    Column("timings", JSON, nullable=False),
    Column("actor", String(120), nullable=False, default=""),
    ts("started_at"),
    ts("finished_at", nullable=True),
)


endpoint_checks = Table(
    "endpoint_checks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("endpoint_id", String(40), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("ok", Boolean, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("error", Text, nullable=False, default=""),
    Column("actor", String(120), nullable=False, default=""),
    ts("checked_at"),
)


readiness_overrides = Table(
    "readiness_overrides",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("drop_id", String(40), ForeignKey("drops.id"), nullable=False, index=True),
    Column("actor", String(120), nullable=False),
    Column("reason", Text, nullable=False),
    # the checklist items that were blocking: [{"id", "title", "evidence"}...]
    Column("blocks", JSON, nullable=False),
    ts("created_at"),
)

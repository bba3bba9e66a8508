"""Access rules of a drop: its access windows and rate limits (``domain/live/access``).

One row per drop that has any; a drop without a row admits everyone without limits.
Windows are kept as one JSON list, in order: they are read and replaced as a whole.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Integer, String, Table

from dropline.store.columns import metadata, ts

drop_access = Table(
    "drop_access",
    metadata,
    Column("drop_id", String(40), ForeignKey("drops.id"), primary_key=True),
    # [{"name", "starts_at" (epoch seconds), "tiers": [...], "allocation": {sku: n} | null}]
    Column("windows", JSON, nullable=False),
    # per minute; null = unlimited
    Column("holds_per_buyer", Integer, nullable=True),
    Column("holds_per_address", Integer, nullable=True),
    Column("checkouts_per_buyer", Integer, nullable=True),
    Column("checkouts_per_address", Integer, nullable=True),
    Column("token_max_age_s", Integer, nullable=True),
    ts("updated_at"),
)

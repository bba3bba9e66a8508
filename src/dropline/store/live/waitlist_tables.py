"""Waitlist and restock-wave tables: each drop's waitlist settings, the buyers in line
per SKU, the recorded pre-queue draws, and scheduled restock waves.

A buyer stands in one SKU's line at most once at a time: the partial-free way to say it
on both databases is the ``open_key`` column (``drop|sku|buyer`` while the entry is
waiting or offered, NULL after), which is unique.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from dropline.store.columns import SeqType, metadata, ts

waitlist_settings = Table(
    "waitlist_settings",
    metadata,
    Column("drop_id", String(40), ForeignKey("drops.id"), primary_key=True),
    Column("mode", String(8), nullable=False),
    Column("claim_window_s", Integer, nullable=False),
    ts("updated_at"),
)

waitlist_entries = Table(
    "waitlist_entries",
    metadata,
    # the join order: the database's sequence, whatever the API processes' clocks say
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("drop_id", String(40), ForeignKey("drops.id"), nullable=False),
    Column("sku_id", String(40), ForeignKey("skus.id"), nullable=False),
    Column("buyer_id", String(200), nullable=False),
    Column("email", String(254), nullable=False, default=""),
    Column("status", String(10), nullable=False),
    Column("pre_queue", Boolean, nullable=False, default=False),
    Column("rank", Integer, nullable=True),
    ts("joined_at"),
    # the buyer token's tiers at the join: sorted tier names, one space apart ("": none)
    Column("tiers", Text, nullable=False, default="", server_default=""),
    # the claim: the hold placed for the buyer, when it lapses, and the link's nonce
    Column("hold_id", String(40), nullable=True),
    ts("offered_at", nullable=True),
    ts("claim_expires_at", nullable=True),
    Column("claim_nonce", String(40), nullable=True),
    ts("claim_opened_at", nullable=True),
    ts("finished_at", nullable=True),
    Column("note", Text, nullable=False, default=""),
    # a saved payment method (the provider's token) charged when a unit is allocated:
    # the charge's status (charging, succeeded, failed), its checkout, why it failed
    Column("payment_token", String(120), nullable=True),
    Column("charge_status", String(10), nullable=True),
    Column("charge_checkout_id", String(40), nullable=True),
    Column("charge_error", String(500), nullable=True),
    ts("charged_at", nullable=True),
    Column("open_key", String(300), nullable=True, unique=True),
    Column("version", Integer, nullable=False, default=1),
    Index("ix_waitlist_entries_line", "drop_id", "sku_id", "status"),
)

waitlist_draws = Table(
    "waitlist_draws",
    metadata,
    Column("drop_id", String(40), ForeignKey("drops.id"), primary_key=True),
    Column("sku_id", String(40), ForeignKey("skus.id"), primary_key=True),
    Column("seed", String(64), nullable=False),
    # the entry ids in drawn order: with the seed, anyone can recompute it (draw_order)
    Column("entry_ids", JSON, nullable=False),
    ts("drawn_at"),
)

restock_waves = Table(
    "restock_waves",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("drop_id", String(40), ForeignKey("drops.id"), nullable=False, index=True),
    Column("sku_id", String(40), ForeignKey("skus.id"), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    ts("at"),
    # where the units come from: a received lot or a production run (informational)
    Column("source_kind", String(8), nullable=False, default=""),
    Column("source_id", String(40), nullable=False, default=""),
    Column("status", String(10), nullable=False),
    # the wave's units: claims took them (waitlisted), they wait behind the gate for
    # the line (for_waitlist), went on sale, or went back to stock at the drop's end
    # while still kept for the line; done, they add up to the quantity
    Column("waitlisted", Integer, nullable=False, default=0),
    Column("for_waitlist", Integer, nullable=False, default=0, server_default="0"),
    Column("on_sale", Integer, nullable=False, default=0, server_default="0"),
    Column("back_in_stock", Integer, nullable=False, default=0, server_default="0"),
    Column("error", Text, nullable=False, default=""),
    ts("created_at"),
    ts("applied_at", nullable=True),
    Column("version", Integer, nullable=False, default=1),
    # planned on an ended drop: applying it reopens the drop (until ``ends_at``, if set)
    Column("reopens", Boolean, nullable=False, default=False),
    ts("ends_at", nullable=True),
    CheckConstraint("quantity > 0", name="ck_restock_waves_quantity"),
    Index("ix_restock_waves_due", "status", "at"),
)

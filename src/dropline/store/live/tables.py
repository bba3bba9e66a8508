"""Live-drop tables: drops, offers, checkouts, orders and the hold-event pages.

Never more sold than offered is a constraint here, so a bug elsewhere fails loudly
instead of overselling.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from dropline.store.columns import SeqType, metadata, ts

drops = Table(
    "drops",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("hold_ttl_s", Integer, nullable=False),
    ts("starts_at", nullable=True),
    # When it first went live (the monitor's elapsed time; set once, by migration 0014).
    ts("live_at", nullable=True),
    # When set, a live or paused drop ends at this time (services/live/schedule.py).
    ts("ends_at", nullable=True),
    ts("ended_at", nullable=True),
    ts("created_at"),
    ts("updated_at"),
    Column("version", Integer, nullable=False, default=1),
    # Bumped with every change to the drop's catalog (offers, bundles, status, unsold
    # units after a sale is undone): the catalog cache reloads only when it moves.
    Column("catalog_version", Integer, nullable=False, default=0, server_default="0"),
    # Set on a dress rehearsal's copy of a drop (the drop it rehearses): such a drop
    # and its orders are kept out of every real list and report.
    Column("rehearsal_of", String(40), nullable=True),
)


drop_offers = Table(
    "drop_offers",
    metadata,
    Column("drop_id", String(40), ForeignKey("drops.id"), primary_key=True),
    Column("sku_id", String(40), ForeignKey("skus.id"), primary_key=True),
    Column("offered", BigInteger, nullable=False),
    Column("sold", BigInteger, nullable=False, default=0),
    Column("per_buyer_limit", Integer, nullable=True),
    Column("paused", Boolean, nullable=False, default=False),
    CheckConstraint("sold >= 0 AND sold <= offered", name="never_oversold"),
)


drop_bundles = Table(
    "drop_bundles",
    metadata,
    Column("drop_id", String(40), ForeignKey("drops.id"), primary_key=True),
    Column("bundle_id", String(40), ForeignKey("bundles.id"), primary_key=True),
)


checkouts = Table(
    "checkouts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("hold_id", String(40), nullable=False, index=True),
    Column("drop_id", String(40), ForeignKey("drops.id"), nullable=False, index=True),
    Column("buyer_id", String(120), nullable=False),
    Column("status", String(20), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("provider", String(20), nullable=False),
    Column("payment_id", String(80), nullable=True),
    Column("payment_method", String(80), nullable=False, default=""),
    Column("decline_code", String(60), nullable=True),
    Column("failure_reason", Text, nullable=True),
    Column("order_id", String(40), nullable=True),
    Column("items", JSON, nullable=False),
    Column("units", JSON, nullable=False),
    Column("attribution", JSON, nullable=False),
    ts("created_at"),
    ts("updated_at"),
    Column("version", Integer, nullable=False, default=1),
    Index("ix_checkouts_status_updated", "status", "updated_at"),
)


orders = Table(
    "orders",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("drop_id", String(40), ForeignKey("drops.id"), nullable=False, index=True),
    Column("buyer_id", String(120), nullable=False, index=True),
    Column("hold_id", String(40), nullable=False),
    Column("checkout_id", String(40), nullable=False, unique=True),
    Column("status", String(20), nullable=False, index=True),
    Column("status_reason", Text, nullable=False, default=""),
    Column("currency", String(3), nullable=False),
    Column("total_amount", BigInteger, nullable=False),
    Column("refunded_amount", BigInteger, nullable=False, default=0),
    Column("provider", String(20), nullable=False),
    Column("payment_id", String(80), nullable=False),
    Column("attribution", JSON, nullable=False),
    ts("paid_at"),
    ts("created_at"),
    ts("updated_at"),
    Column("version", Integer, nullable=False, default=1),
    # The short human order number (``DL-1042``) from ``order_numbers``; every order has
    # one (orders older than migration 0014 were numbered by it).
    Column("number", String(24), nullable=True, unique=True, index=True),
    CheckConstraint("total_amount >= 0 AND refunded_amount >= 0", name="money_nonneg"),
)


# Order numbers: one row per order, the number taken from the database's own counter
# (an identity on PostgreSQL, AUTOINCREMENT on SQLite), so concurrent checkouts on any
# number of processes never get the same one and none waits for another's commit.
# Numbers start at 1001; a rolled-back checkout may leave a gap, never a duplicate.
order_numbers = Table(
    "order_numbers",
    metadata,
    Column("number", SeqType, Identity(start=1001), primary_key=True),
    Column("order_id", String(40), nullable=False, unique=True),
    sqlite_autoincrement=True,
)


order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String(40), ForeignKey("orders.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("ref_id", String(40), nullable=False),
    Column("description", String(300), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("line_amount", BigInteger, nullable=False),
)


# Hold events come in thousands per second during a drop, so they are stored a page
# at a time: one row per drop per drain pass, instead of one outbox row each.
hold_event_pages = Table(
    "hold_event_pages",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("drop_id", String(40), nullable=False),
    Column("n", Integer, nullable=False),
    # {"hold.placed": 240, "hold.expired": 10}: the monitor sums these, never the events
    Column("tally", JSON, nullable=False),
    # [{"id", "type", "occurred_at", "version", "hold"}, ...] in journal order
    Column("events", JSON, nullable=False),
    ts("created_at"),
    # a drop's pages in order: the report reads them all, the monitor tails them
    Index("ix_hold_event_pages_drop_seq", "drop_id", "seq"),
)


# How far each drop's journal has been paged: the last stored event's position, so a
# re-drain after a crash (or a second worker) skips what is already stored.
hold_event_cursors = Table(
    "hold_event_cursors",
    metadata,
    Column("drop_id", String(40), primary_key=True),
    Column("journal", String(80), nullable=False),
    Column("pos_major", BigInteger, nullable=False),
    Column("pos_minor", BigInteger, nullable=False),
)

"""The schema, as SQLAlchemy Core tables. Alembic migrations create exactly this.

Rules that protect the ledger are also constraints here (no negative bucket, never more
sold than offered), so a bug elsewhere fails loudly instead of overselling.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        dt: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if dt.tzinfo is None:
            return dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC)


def _ts(name: str, nullable: bool = False) -> Column[Any]:
    return Column(name, UtcDateTime(), nullable=nullable)


products = Table(
    "products",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    _ts("created_at"),
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
    _ts("created_at"),
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
    _ts("created_at"),
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

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("sku_id", String(40), ForeignKey("skus.id"), primary_key=True),
    Column("available", BigInteger, nullable=False, default=0),
    Column("committed", BigInteger, nullable=False, default=0),
    Column("reserved", BigInteger, nullable=False, default=0),
    Column("safety", BigInteger, nullable=False, default=0),
    Column("quality_control", BigInteger, nullable=False, default=0),
    Column("damaged", BigInteger, nullable=False, default=0),
    Column("version", Integer, nullable=False, default=1),
    CheckConstraint(
        "available >= 0 AND committed >= 0 AND reserved >= 0 AND safety >= 0 "
        "AND quality_control >= 0 AND damaged >= 0",
        name="buckets_nonneg",
    ),
)

stock_movements = Table(
    "stock_movements",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("sku_id", String(40), ForeignKey("skus.id"), nullable=False, index=True),
    Column("quantity", BigInteger, nullable=False),
    Column("from_bucket", String(20), nullable=True),
    Column("to_bucket", String(20), nullable=True),
    Column("reason", String(20), nullable=False),
    Column("ref", String(60), nullable=False, default="", index=True),
    Column("actor", String(120), nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
    _ts("created_at"),
    CheckConstraint("quantity > 0", name="qty_pos"),
)

drops = Table(
    "drops",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("hold_ttl_s", Integer, nullable=False),
    _ts("starts_at", nullable=True),
    _ts("ended_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    Column("version", Integer, nullable=False, default=1),
    # Bumped with every change to the drop's catalog (offers, bundles, status, unsold
    # units after a sale is undone): the catalog cache reloads only when it moves.
    Column("catalog_version", Integer, nullable=False, default=0, server_default="0"),
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
    _ts("created_at"),
    _ts("updated_at"),
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
    _ts("paid_at"),
    _ts("created_at"),
    _ts("updated_at"),
    Column("version", Integer, nullable=False, default=1),
    CheckConstraint("total_amount >= 0 AND refunded_amount >= 0", name="money_nonneg"),
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

outbox = Table(
    "outbox",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    # 80: engine event ids are ``evt_<stream entry id>.<drop id>`` (about 50 chars).
    Column("id", String(80), nullable=False, unique=True),
    Column("type", String(60), nullable=False, index=True),
    Column("aggregate_type", String(30), nullable=False),
    Column("aggregate_id", String(60), nullable=False, index=True),
    Column("aggregate_version", Integer, nullable=False),
    Column("payload", JSON, nullable=False),
    _ts("occurred_at"),
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
    _ts("created_at"),
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

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("prefix", String(24), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(120), nullable=False),
    _ts("created_at"),
    _ts("revoked_at", nullable=True),
)

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("principal", String(40), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("method", String(10), nullable=False),
    Column("path", String(300), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("body", Text, nullable=False),
    _ts("created_at"),
)

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
    _ts("created_at"),
    _ts("updated_at"),
)

sandbox_operations = Table(
    "sandbox_operations",
    metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("operation", String(20), nullable=False),
    Column("payment_id", String(40), nullable=False),
    Column("request_hash", String(64), nullable=False),
)

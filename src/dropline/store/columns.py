"""The shared metadata and column types every table module builds on.

Each capability keeps its tables in ``store/<capability>/tables.py`` on this one
``metadata``; ``store/schema.py`` imports them all, so Alembic sees one schema.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Integer,
    MetaData,
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


def _utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive time is refused (which zone would it be in?)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database; use UTC-aware times")
    return value.astimezone(UTC)


def _sqlite_text(value: datetime | None) -> str | None:
    """``UtcDateTime``'s bound value on SQLite (see ``UtcDateTime.bind_processor``)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = _utc(value)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else _utc(value)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, ``process_bind_param`` and SQLite's ``DATETIME`` text in one step:
        ``2026-12-07 09:30:00.000000`` (UTC, microseconds always) from C's ``isoformat``,
        the same characters SQLAlchemy's processor formats field by field in Python,
        in about 60 % of its time (an order binds a dozen and a half times).
        Elsewhere the usual chain."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        dt: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if dt.tzinfo is None:
            return dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC)


def ts(name: str, nullable: bool = False) -> Column[Any]:
    """A UTC timestamp column, NOT NULL unless ``nullable``."""
    return Column(name, UtcDateTime(), nullable=nullable)

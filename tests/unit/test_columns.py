"""``UtcDateTime`` binds the text SQLAlchemy's SQLite ``DATETIME`` would bind.

On SQLite its bind processor formats the time itself (one C call instead of the chain
of ``process_bind_param`` and SQLAlchemy's field-by-field format); what reaches the
database must be character for character what the chain sends, or stored times would
stop comparing as text with the ones already there.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.sqlite import DATETIME

from dropline.store.columns import UtcDateTime

SQLITE = sqlite.dialect()


def chain(value: datetime | None) -> str | None:
    """What SQLAlchemy sends without the shortcut: UTC, then SQLite's DATETIME text."""
    sqlalchemys = DATETIME().bind_processor(SQLITE)
    assert sqlalchemys is not None
    return sqlalchemys(None if value is None else value.astimezone(UTC))


def samples() -> list[datetime]:
    rng = random.Random(7)
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11))]
    fixed = [
        datetime(1, 1, 2, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 12, 7, tzinfo=UTC),  # no microseconds: still six digits
        datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Paris")),
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris")),
    ]
    start = datetime(2000, 1, 1, tzinfo=UTC)
    drawn = [
        (start + timedelta(microseconds=rng.randrange(10**15))).astimezone(rng.choice(zones))
        for _ in range(5000)
    ]
    return fixed + drawn


def test_sqlite_text_is_sqlalchemys_character_for_character() -> None:
    mine = UtcDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert mine is not None
    for value in samples():
        assert mine(value) == chain(value), value
    assert mine(None) is None


def test_a_naive_time_is_refused() -> None:
    mine = UtcDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert mine is not None
    with pytest.raises(ValueError, match="naive datetime"):
        mine(datetime(2026, 12, 7, 9, 30))


def test_postgresql_gets_the_time_in_utc() -> None:
    pg = postgresql.dialect()
    process = UtcDateTime().dialect_impl(pg).bind_processor(pg)
    value = datetime(2026, 12, 7, 15, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    bound = process(value) if process is not None else value
    assert bound == value and bound.utcoffset() == timedelta(0)


def test_sqlite_text_reads_back_as_the_same_aware_utc_time() -> None:
    impl = UtcDateTime().dialect_impl(SQLITE)
    write = impl.bind_processor(SQLITE)
    read = impl.result_processor(SQLITE, None)
    assert write is not None and read is not None
    for value in samples()[:500]:
        back = read(write(value))
        # (against the UTC time: Python never finds a time in a repeated hour, fold=1,
        # equal to one in another zone)
        assert back == value.astimezone(UTC) and back.tzinfo is UTC

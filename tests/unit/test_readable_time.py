"""``readable_utc``: the same text as strftime's C-locale ``%a %d %b %Y, %H:%M UTC``."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from dropline.domain.readable_time import readable_utc


def test_it_reads_like_strftime_in_the_c_locale_for_every_day_and_month() -> None:
    rng = random.Random(7)
    start = datetime(1999, 12, 25, tzinfo=UTC)
    for _ in range(3000):
        t = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 365 * 40))
        assert readable_utc(t) == t.strftime("%a %d %b %Y, %H:%M UTC")


def test_a_time_in_another_zone_is_shown_in_utc() -> None:
    t = datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert readable_utc(t) == "Fri 01 Jan 2027, 04:30 UTC"


def test_a_naive_time_is_taken_as_utc() -> None:
    assert readable_utc(datetime(2026, 2, 28, 9, 5)) == "Sat 28 Feb 2026, 09:05 UTC"

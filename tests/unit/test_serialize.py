"""RFC 3339 times as the API prints them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from dropline.services.serialize import rfc3339


def reference(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def test_timestamps_format_exactly_as_datetime_does() -> None:
    rng = random.Random(11)
    cases = [0.0, 1.0, 1_795_000_000.0, 1_795_000_000.5, 1_795_000_000.9999995, 86_399.9999996]
    cases += [rng.uniform(1.7e9, 1.9e9) for _ in range(20_000)]
    # exactly half a microsecond: rounded half to even like fromtimestamp
    cases += [1_795_000_000 + (n + 0.5) / 1e6 for n in range(0, 2000, 7)]
    cases += [rng.randint(0, 2_000_000_000) + rng.randint(0, 999_999) / 1e6 for _ in range(5000)]
    for ts in cases:
        assert rfc3339(ts) == reference(ts), ts
    assert rfc3339(-1.25) == reference(-1.25)


def test_datetimes_are_shown_in_utc_with_z() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2026, 11, 27, 18, 0, tzinfo=plus2)) == "2026-11-27T16:00:00Z"
    assert rfc3339(datetime(2026, 11, 27, 16, 0, 0, 120, tzinfo=UTC)) == (
        "2026-11-27T16:00:00.000120Z"
    )
    assert rfc3339(None) is None

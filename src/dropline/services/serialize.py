"""Plain-dict views of domain objects, shared by events, the API and the CLI."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from dropline.domain.live.drops import Drop
from dropline.domain.live.holds import HOLD_STATUS, Hold, HoldStatus

_HOLD_VERSION = {HoldStatus.ACTIVE: 1, HoldStatus.PAYING: 2}


def rfc3339(ts: float | datetime | None) -> str | None:
    """``2026-11-27T16:38:00.123456Z`` (no fraction when it is zero); naive datetimes are
    taken as local time, as ``astimezone`` does."""
    if ts is None:
        return None
    if isinstance(ts, datetime):
        return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if ts < 0:
        return datetime.fromtimestamp(ts, UTC).isoformat()[:-6] + "Z"
    return _utc_text(ts)


_SECONDS: dict[int, str] = {}


def _utc_text(ts: float) -> str:
    """``datetime.fromtimestamp(ts, UTC)`` as RFC 3339, without building a datetime.

    Every hold answer and hold event carries two such times; a flash sale formats
    thousands per second, nearly all in the same few seconds, so the date-and-time part
    of each second is kept. Microseconds are rounded half to even, as ``fromtimestamp``
    rounds them (``tests/unit/test_serialize.py`` compares the two)."""
    sec = int(ts)
    us = round((ts - sec) * 1e6)
    if us >= 1_000_000:
        sec, us = sec + 1, us - 1_000_000
    head = _SECONDS.get(sec)
    if head is None:
        t = time.gmtime(sec)
        head = (
            f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
            f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
        )
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        _SECONDS[sec] = head
    return f"{head}.{us:06d}Z" if us else f"{head}Z"


def hold_version(hold: Hold) -> int:
    """Monotonic per hold: active 1, paying 2, any final state 3."""
    return _HOLD_VERSION.get(hold.status, 3)


def status_version(status: str) -> int:
    """``hold_version`` from a stored status text."""
    return _HOLD_VERSION.get(HOLD_STATUS[status], 3)


def hold_dict(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "drop_id": hold.drop_id,
        "buyer_id": hold.buyer_id,
        "status": hold.status.value,
        "items": [{"kind": i.kind.value, "ref": i.ref, "quantity": i.quantity} for i in hold.items],
        "units": dict(hold.units),
        "created_at": rfc3339(hold.created_at),
        "expires_at": rfc3339(hold.expires_at),
        "extended": hold.extended,
        "attribution": dict(hold.attribution),
        "version": hold_version(hold),
    }


def drop_event_payload(drop: Drop) -> dict[str, object]:
    """What every ``drop.*`` lifecycle event carries about the drop."""
    return {"id": drop.id, "name": drop.name, "status": drop.status.value, "version": drop.version}

"""Plain-dict views of domain objects, shared by events, the API and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dropline.domain.holds import Hold, HoldStatus

_HOLD_VERSION = {HoldStatus.ACTIVE: 1, HoldStatus.PAYING: 2}


def rfc3339(ts: float | datetime | None) -> str | None:
    """``2026-11-27T16:38:00.123456Z`` (no fraction when it is zero); naive datetimes are
    taken as local time, as ``astimezone`` does."""
    if ts is None:
        return None
    if isinstance(ts, datetime):
        return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
    # A UTC-aware isoformat always ends in "+00:00": cut it instead of searching for it.
    return datetime.fromtimestamp(ts, UTC).isoformat()[:-6] + "Z"


def hold_version(hold: Hold) -> int:
    """Monotonic per hold: active 1, paying 2, any final state 3."""
    return _HOLD_VERSION.get(hold.status, 3)


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

"""JSON-ready copies of the plain dicts the production, QC and pre-order services return:
datetimes become RFC 3339 UTC strings (``...Z``), everything else is left as is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dropline.domain.errors import InvalidInput
from dropline.services.serialize import rfc3339


def plain(value: Any) -> Any:
    """``value`` with every datetime (at any depth) as an RFC 3339 string."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def parse_time(value: str | None, field: str) -> datetime | None:
    """An RFC 3339 time with a zone, or ``InvalidInput``."""
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field} must be an RFC 3339 time", field=field) from None
    if dt.tzinfo is None:
        raise InvalidInput(f"{field} needs a time zone (use Z for UTC)", field=field)
    return dt


def plain_dict(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = plain(value)
    return out


def plain_list(value: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = plain(value)
    return out

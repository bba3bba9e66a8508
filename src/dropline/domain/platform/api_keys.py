"""API key lifecycle: when a key may be used, when a rotated key retires, how often its
last use is recorded."""

from __future__ import annotations

from datetime import datetime, timedelta

from dropline.domain.errors import InvalidInput

#: What a key may do, weakest first: each scope may do what the ones before it may.
SCOPES = ("storefront", "ops", "admin")
#: The longest a rotated key keeps working beside its successor.
MAX_GRACE = timedelta(days=30)
#: A key's ``last_used_at`` is written at most this often per process.
LAST_USED_EVERY_S = 60.0


def usable(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> bool:
    """A key works until it is revoked or its expiry (exclusive) has come."""
    return revoked_at is None and (expires_at is None or now < expires_at)


def check_expiry(expires_at: datetime | None, now: datetime) -> None:
    """A new key's expiry, if any, must be a UTC-aware time in the future."""
    if expires_at is None:
        return
    if expires_at.tzinfo is None:
        raise InvalidInput("expires_at needs a time zone (RFC 3339, e.g. ...Z)")
    if expires_at <= now:
        raise InvalidInput("expires_at must be in the future")


def retirement(now: datetime, grace: timedelta, expires_at: datetime | None) -> datetime:
    """When a rotated key stops working: after ``grace`` (0 to ``MAX_GRACE``), or at
    its own expiry if that comes first (a rotation never lengthens a key's life)."""
    if grace < timedelta(0) or grace > MAX_GRACE:
        raise InvalidInput(f"grace must be between 0 and {MAX_GRACE.days} days")
    retire = now + grace
    return retire if expires_at is None else min(retire, expires_at)

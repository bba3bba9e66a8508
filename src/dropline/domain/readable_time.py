"""Times as people read them in messages and pages: ``Mon 07 Dec 2026, 15:58 UTC``.

English day and month names whatever the server's locale (``strftime``'s ``%a`` and
``%b`` follow ``LC_TIME``, so a buyer's email could change language with the host), and
in half the time of ``strftime``: one is made for every order's confirmation.
"""

from __future__ import annotations

from datetime import UTC, datetime

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def readable_utc(value: datetime) -> str:
    """``value`` in UTC to the minute; a naive time is taken as UTC already."""
    v = value.astimezone(UTC) if value.tzinfo is not None else value
    return (
        f"{_DAYS[v.weekday()]} {v.day:02d} {_MONTHS[v.month - 1]} {v.year}, "
        f"{v.hour:02d}:{v.minute:02d} UTC"
    )

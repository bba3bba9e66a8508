"""How a waitlist entry reads to its buyer: the fields the API shows and one sentence
that says where the entry stands (its place in line; with access windows, when the
buyer's window opens, while the line passes over the entry until then)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dropline.domain.live.waitlist import EntryStatus
from dropline.services.serialize import rfc3339
from dropline.store.live.waitlist_repo import Row

#: The note of an entry skipped because no access window admits its tiers any more.
NO_WINDOW_NOTE = (
    "no access window of this drop admits your tiers any more (the windows changed "
    "after you joined), so the line cannot serve you"
)


def readable(ts: float) -> str:
    """A time as a buyer reads it: ``2026-12-12 20:30:00 UTC``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def entry_message(row: Row, place: int | None, opens_at: float | None) -> str:
    """One sentence on where the entry stands, for the buyer."""
    status = row["status"]
    if status == EntryStatus.WAITING.value:
        if opens_at is not None:
            return (
                f"Your access window opens at {readable(opens_at)}. Until then the units "
                "that come back go to buyers in line whose window is open; you keep your "
                f"place, and are number {place} in line when it opens."
            )
        if place is None:
            return f"You will not be served: {NO_WINDOW_NOTE}."
        return f"You are number {place} in line."
    if status == EntryStatus.OFFERED.value:
        exp = row["claim_expires_at"]
        until = f" until {readable(exp.timestamp())}" if exp is not None else ""
        return f"A unit is held for you{until}: open the claim link to pay for it."
    if status == EntryStatus.CLAIMED.value:
        return "You got a unit through the line."
    if status == EntryStatus.LOST.value:
        return "The claim lapsed; the unit went to the next in line."
    if status == EntryStatus.SKIPPED.value:
        return f"Skipped: {row['note']}." if row.get("note") else "Skipped."
    return "You left the line."


def entry_view(row: Row, place: int | None = None, opens_at: float | None = None) -> dict[str, Any]:
    """An entry as the API shows it (times RFC 3339): ``position`` while waiting
    (``waitlist.position``), ``window_opens_at`` while it waits for the buyer's access
    window (passed over by the line until then) and ``message``, the same in words."""
    return {
        "id": row["id"],
        "drop_id": row["drop_id"],
        "sku_id": row["sku_id"],
        "buyer_id": row["buyer_id"],
        "status": row["status"],
        "position": place,
        "window_opens_at": rfc3339(opens_at),
        "message": entry_message(row, place, opens_at),
        "pre_queue": bool(row["pre_queue"]),
        "joined_at": rfc3339(row["joined_at"]),
        "hold_id": row["hold_id"],
        "claim_expires_at": rfc3339(row["claim_expires_at"]),
        "card_saved": bool(row.get("payment_token")),
        "auto_charge": row.get("charge_status"),
    }

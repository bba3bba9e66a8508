"""Settling a waitlist claim: what became of the claim hold placed for an entry, and
handing its unit back when the claim lapses or is given up."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from dropline.domain.live.holds import HoldStatus
from dropline.domain.live.waitlist import EntryStatus
from dropline.services.ports import Clock, StockEngine
from dropline.store.live.waitlist_repo import Row
from dropline.store.uow import UowFactory

log = logging.getLogger(__name__)


async def settle_claim(uow: UowFactory, engine: StockEngine, clock: Clock, row: Row) -> None:
    """An offered claim whose hold was paid is ``claimed``; one whose hold expired,
    was released or is gone is ``lost`` (its unit is back behind the gate)."""
    hold = await engine.get_hold(row["hold_id"]) if row["hold_id"] else None
    now = clock.now()
    if hold is not None and hold.status is HoldStatus.CONVERTED:
        status = EntryStatus.CLAIMED
    elif hold is None or hold.status in (HoldStatus.EXPIRED, HoldStatus.RELEASED):
        status = EntryStatus.LOST
    elif not hold.is_live(now):
        status = EntryStatus.LOST
        # The sweeper expires it too; releasing now hands the unit on without waiting.
        await release_claim(engine, clock, hold.id)
    else:
        return
    async with uow() as u:
        await u.waitlist.change(
            row["id"],
            row["version"],
            status=status.value,
            finished_at=datetime.fromtimestamp(clock.now(), UTC),
        )
        await u.commit()


async def release_claim(engine: StockEngine, clock: Clock, hold_id: str) -> None:
    """Release a claim hold, handing its unit on; a hold already finished (paid, expired
    by the sweeper, lost) is left as it is."""
    try:
        await engine.release(hold_id, clock.now())
    except Exception as exc:  # already finished (paid, expired, lost)
        log.debug("claim hold %s not released: %s", hold_id, exc)

"""The drop schedule: open scheduled drops at ``starts_at``, end them at ``ends_at``.

One idempotent pass (``DropSchedule.run_once``) that any number of workers may run at
once. Each due drop goes through ``DropService.transition``, exactly as a manual
go-live or end does (engine, events, stock), and that transition reads the drop
under its row lock (``SELECT ... FOR UPDATE`` on PostgreSQL, the single writer on
SQLite) and saves it with a compare-and-set on its version: of two workers that both
saw the drop due, one moves it and the other finds it already moved and skips it.
"""

from __future__ import annotations

import logging
from typing import Any

from dropline.domain.errors import Conflict, InvalidTransition, NotFound
from dropline.domain.live.drops import (
    Drop,
    DropStatus,
    due_to_end,
    due_to_open,
    seconds_until_start,
)
from dropline.services.live.drops import DropService
from dropline.services.serialize import rfc3339

log = logging.getLogger(__name__)

ACTOR = "schedule"


def schedule_view(drop: Drop, now: float) -> dict[str, Any]:
    """The countdown the monitor and the public view show: ``starts_at``, ``ends_at``
    (RFC 3339 or None) and ``starts_in_s``, the whole seconds until a draft or
    scheduled drop opens (0 once due; None without a start or once opened)."""
    return {
        "starts_at": rfc3339(drop.starts_at),
        "ends_at": rfc3339(drop.ends_at),
        "starts_in_s": seconds_until_start(drop, now),
    }


class DropSchedule:
    def __init__(self, drops: DropService) -> None:
        self.drops = drops

    async def run_once(self) -> list[tuple[str, DropStatus]]:
        """Make every transition the schedule asks for now; returns the ones this pass
        made (a transition another worker made first is not listed)."""
        now = self.drops.uow.now().timestamp()
        async with self.drops.uow(readonly=True) as uow:
            candidates = await uow.drops.due_for_schedule(now)
        made: list[tuple[str, DropStatus]] = []
        for drop in candidates:
            if due_to_end(drop, now):
                target = DropStatus.ENDED
            elif due_to_open(drop, now):
                target = DropStatus.LIVE
            else:
                continue
            try:
                await self.drops.transition(drop.id, target, actor=ACTOR)
            except (InvalidTransition, NotFound):
                continue  # another worker (or an operator) moved it first
            except Conflict as exc:
                # a lost compare-and-set, or a drop that cannot open (no offer yet)
                log.warning("scheduled %s of drop %s not made: %s", target, drop.id, exc)
                continue
            made.append((drop.id, target))
        return made

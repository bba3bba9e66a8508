"""The drop schedule: open scheduled drops at ``starts_at``, end them at ``ends_at``.

One idempotent pass (``DropSchedule.run_once``) that any number of workers may run at
once. Each due drop goes through ``DropService.transition``, exactly as a manual
go-live or end does (engine, events, stock), and that transition reads the drop
under its row lock (``SELECT ... FOR UPDATE`` on PostgreSQL, the single writer on
SQLite) and saves it with a compare-and-set on its version: of two workers that both
saw the drop due, one moves it and the other finds it already moved and skips it.
The transition is asked for the version the pass read, so a drop that changed in
between is left to the next pass: an ended drop that a restock wave reopened meanwhile
(its passed end replaced by the wave's) is not ended again by a stale read.

A start the readiness gate refuses (``NotReady``: a ``block`` and no override) does not
happen: the drop stays scheduled, and the refusal is kept in the drop's history as a
``drop.start_blocked`` event naming the blocking items (once per version of the drop,
so a pass every half second does not repeat it), which the monitor shows as an alert
and the readiness report lists. The start is tried again every ``BLOCKED_RETRY_S``, so
a drop goes live on its own once nothing blocks (or an operator takes it live with an
override reason).
"""

from __future__ import annotations

import logging
from typing import Any

from dropline.domain.errors import Conflict, InvalidTransition, NotFound, NotReady
from dropline.domain.events import DomainEvent
from dropline.domain.live.drops import (
    Drop,
    DropStatus,
    due_to_end,
    due_to_open,
    seconds_until_start,
)
from dropline.services.live.drops import DropService
from dropline.services.serialize import rfc3339
from dropline.store.uow import UnitOfWork

log = logging.getLogger(__name__)

ACTOR = "schedule"
START_BLOCKED = "drop.start_blocked"
# How often a start the gate refused is tried again (each try computes the checklist,
# which pings the payment provider: not every half second).
BLOCKED_RETRY_S = 15.0


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
        self._blocked_at: dict[str, float] = {}  # drop id -> when its start was last refused

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
            refused_at = self._blocked_at.get(drop.id)
            if target is DropStatus.LIVE and refused_at and now - refused_at < BLOCKED_RETRY_S:
                continue
            try:
                # only the drop as read: a drop reopened since (its end replaced) is not ended
                await self.drops.transition(drop.id, target, actor=ACTOR, version=drop.version)
            except (InvalidTransition, NotFound):
                continue  # another worker (or an operator) moved it first
            except NotReady as exc:
                self._blocked_at[drop.id] = now
                await self._keep_refusal(drop, exc)
                continue
            except Conflict as exc:
                # a lost compare-and-set, or a drop that cannot open (no offer yet)
                log.warning("scheduled %s of drop %s not made: %s", target, drop.id, exc)
                continue
            self._blocked_at.pop(drop.id, None)
            made.append((drop.id, target))
        return made

    async def _keep_refusal(self, drop: Drop, exc: NotReady) -> None:
        """Write ``drop.start_blocked`` (the blocking items, the gate's words) into the
        drop's history, unless this version of the drop already has one. Its event id
        is made of the drop and its version, so two workers refused at the same moment
        write it once (the outbox skips an id it already holds)."""
        async with self.drops.uow() as uow:
            seen = await uow.outbox.list(type_prefix=START_BLOCKED, aggregate_id=drop.id)
            if any(e["aggregate_version"] == drop.version for e in seen):
                return
            uow.record(
                DomainEvent(
                    START_BLOCKED,
                    "drop",
                    drop.id,
                    drop.version,
                    {
                        "id": drop.id,
                        "name": drop.name,
                        "starts_at": rfc3339(drop.starts_at),
                        "detail": exc.detail,
                        "blocks": exc.extra.get("blocks", []),
                    },
                    id=f"evt_start_blocked_{drop.id}_v{drop.version}",
                )
            )
            await uow.commit()
        log.warning("scheduled start of drop %s refused by the readiness gate: %s",
                    drop.id, exc.detail)  # fmt: skip


async def start_blocked(uow: UnitOfWork, drop: Drop) -> dict[str, Any] | None:
    """The refusal of a scheduled drop's start that still stands (recorded for the
    drop's current version while it is scheduled), as ``{at, detail, blocks}``; None
    when there is none."""
    if drop.status is not DropStatus.SCHEDULED:
        return None
    seen = await uow.outbox.list(type_prefix=START_BLOCKED, aggregate_id=drop.id)
    mine = [e for e in seen if e["aggregate_version"] == drop.version]
    if not mine:
        return None
    last = mine[-1]
    return {
        "at": rfc3339(last["occurred_at"]),
        "detail": last["payload"]["detail"],
        "blocks": last["payload"]["blocks"],
    }

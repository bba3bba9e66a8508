"""From the engine's hold journal to the database: hold event pages.

Holds never touch the database on the hot path; the engine journals each hold's
lifecycle (``hold.placed``, ``hold.paying``, ``hold.converted``, ``hold.released``,
``hold.expired``) in the same atomic step as the change, and a background pass copies
the journal into ``hold_event_pages``: one row per drop per pass, holding the events in
journal order and a tally per type. The monitor sums tallies and the report reads
events from there.

A row per event in the outbox cost as much as the hold itself (four index updates and a
JSON column per tap of a flash sale), so hold events reach the outbox only when some
webhook endpoint subscribes to them; fan-out and delivery then treat them like any
other event.

Exactly once: each drop has a cursor (the last stored event's journal position),
locked in the page's transaction. A pass keeps only events after the cursor, stores
them, moves the cursor, commits, and only then acknowledges the events to the engine; a
crash in between, or a second worker reading the same events, re-reads events the
cursor already covers and skips them.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from dropline.domain.events import DomainEvent
from dropline.domain.fulfilment.rules import event_matches
from dropline.services.platform.metrics import metrics
from dropline.services.ports import EngineEvent, StockEngine
from dropline.services.serialize import hold_dict, hold_version, rfc3339, status_version
from dropline.store.live.hold_event_repo import Cursor
from dropline.store.uow import UnitOfWork, UowFactory

HOLD_EVENT_TYPES = (
    "hold.placed",
    "hold.paying",
    "hold.converted",
    "hold.released",
    "hold.expired",
)


def unseen(events: Sequence[EngineEvent], cursor: Cursor | None) -> list[EngineEvent]:
    """The events after ``cursor``; all of them when the cursor belongs to another
    journal (the in-process engine starts a new one with every process)."""
    if cursor is None:
        return list(events)
    journal, pos = cursor
    return [e for e in events if e.journal != journal or e.pos > pos]


def stored(e: EngineEvent) -> tuple[Any, ...]:
    """An event as a page stores it: a flat array, not the hold's API view.

    Formatting each hold as its JSON view (nested dicts, two RFC 3339 times) cost more
    than storing it; the view is rebuilt on reading (``HoldEventRow.payload``).
    Layout: event id, type, epoch seconds, hold id, buyer id, status, created and
    expiry epoch seconds, extended, items as ``[kind, ref, quantity]``, units,
    attribution."""
    h = e.hold
    return (
        e.id,
        e.type,
        e.at,
        h.id,
        h.buyer_id,
        h.status,
        h.created_at,
        h.expires_at,
        h.extended,
        [(i.kind, i.ref, i.quantity) for i in h.items],
        h.units,
        h.attribution,
    )


def page(drop_id: str, events: Sequence[EngineEvent]) -> dict[str, Any]:
    """One ``hold_event_pages`` row for a drop's events, in journal order."""
    return {
        "drop_id": drop_id,
        "n": len(events),
        "tally": dict(Counter(e.type for e in events)),
        "events": [stored(e) for e in events],
    }


class HoldEventRow(NamedTuple):
    """One hold event read back from a page: ``payload`` is the hold's JSON view at
    that moment (what ``hold.*`` webhooks carry), ``aggregate_id`` the hold id."""

    seq: int
    id: str
    type: str
    aggregate_id: str
    payload: dict[str, Any]
    occurred_at: str


def read_stored(seq: int, drop_id: str, raw: Sequence[Any]) -> HoldEventRow:
    """Rebuild a stored event (``stored``'s layout)."""
    eid, type_, at, hold_id, buyer, status, created, expires, extended, items, units, attr = raw
    payload = {
        "id": hold_id,
        "drop_id": drop_id,
        "buyer_id": buyer,
        "status": status,
        "items": [{"kind": k, "ref": r, "quantity": q} for k, r, q in items],
        "units": units,
        "created_at": rfc3339(created),
        "expires_at": rfc3339(expires),
        "extended": extended,
        "attribution": attr,
        "version": status_version(status),
    }
    return HoldEventRow(seq, eid, type_, hold_id, payload, rfc3339(at) or "")


async def drop_hold_events(uow: UnitOfWork, drop_id: str) -> list[HoldEventRow]:
    """Every stored hold event of a drop, oldest first."""
    return [
        read_stored(seq, drop_id, raw)
        for seq, events in await uow.hold_events.pages_for_drop(drop_id)
        for raw in events
    ]


def subscribed_types(endpoints: Sequence[dict[str, Any]]) -> set[str]:
    """The hold event types some webhook endpoint subscribes to (``*``, ``hold.*`` or
    the exact type), the same matching the fan-out applies."""
    return {t for ep in endpoints for t in HOLD_EVENT_TYPES if event_matches(ep["event_types"], t)}


async def drain_hold_events(
    engine: StockEngine,
    uow: UowFactory,
    batch: int = 250,
    *,
    owner: str | None = None,
    lease_s: float = 2.0,
) -> int:
    """Store journalled hold events as pages, then acknowledge them; returns how many
    events were read and acknowledged (re-read ones included).

    Small batches with a yield between them: the embedded engine and SQLite answer
    without suspending, so one pass over a second of a flash sale's events (thousands)
    would otherwise hold the event loop for tens of milliseconds, and every hold
    request waiting behind it would see that in its latency.

    With ``owner`` (the background job passes one per process) the pass runs only
    while that owner holds the engine's journal lease for ``lease_s``: when several
    API processes share a Redis engine, one of them drains and the others do not read
    every event a second time only to find it stored. Exactly-once does not depend on
    it: the cursors make any number of concurrent drains safe."""
    if owner is not None and not await engine.journal_lease(owner, lease_s):
        return 0
    total = 0
    lag = metrics().drain_lag
    while True:
        events = await engine.read_events(batch)
        if total == 0:  # the oldest event this pass found waiting
            lag.set(max(0.0, time.time() - min(e.at for e in events)) if events else 0.0)
        if not events:
            return total
        async with uow() as u:
            await _store(u, events)
            await u.commit()
        await engine.ack_events([e.id for e in events])
        total += len(events)
        if len(events) < batch:
            return total
        if owner is not None and not await engine.journal_lease(owner, lease_s):
            return total  # a long pass renews its lease per batch; lost, it stops
        await asyncio.sleep(0)


async def _store(u: UnitOfWork, events: Sequence[EngineEvent]) -> None:
    by_drop: dict[str, list[EngineEvent]] = {}
    for e in events:
        by_drop.setdefault(e.hold.drop_id, []).append(e)
    cursors = await u.hold_events.lock_cursors(list(by_drop))
    fresh: list[EngineEvent] = []
    pages: list[dict[str, Any]] = []
    moved: dict[str, Cursor] = {}
    for drop_id in sorted(by_drop):
        new = unseen(by_drop[drop_id], cursors.get(drop_id))
        if new:
            pages.append(page(drop_id, new))
            moved[drop_id] = (new[-1].journal, new[-1].pos)
            fresh.extend(new)
    if not pages:
        return
    await u.hold_events.add_pages(pages)
    await u.hold_events.advance(moved)
    wanted = subscribed_types(await u.webhooks.list_endpoints())
    kept = {e.id for e in fresh}
    outgoing = [e for e in events if e.type in wanted and e.id in kept]
    if outgoing:
        await u.outbox.add_many(
            [
                DomainEvent(
                    e.type, "hold", e.hold.id, hold_version(e.hold), hold_dict(e.hold), id=e.id
                )
                for e in outgoing
            ],
            occurred_at=[datetime.fromtimestamp(e.at, UTC) for e in outgoing],
        )

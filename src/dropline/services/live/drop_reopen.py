"""What reopening an ended drop for a restock wave writes, in the caller's transaction.

A drop that ended gave every unsold unit back to ``available`` and closed its books; a
restock wave planned on it (its second wave) reopens it at the wave's time through
``DropService.reopen``, which locks the drop, calls ``write_reopening`` and commits, so
the drop, its offers, the wave's stock movement, its access windows and the
``drop.reopened`` event change together or not at all. The rules are the domain's
(``domain/live/drops.py``: ``check_reopen``, ``reopened_offers``;
``domain/live/access.py``: ``reopened_windows``).
"""

from __future__ import annotations

from dataclasses import replace

from dropline.domain.catalog.items import ensure_active
from dropline.domain.errors import Conflict, InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.live.access import check_windows, reopened_windows
from dropline.domain.live.drops import Drop, Reopening, check_reopen, reopened_offers
from dropline.domain.stock.buckets import MAX_QUANTITY, Bucket, Movement, Reason
from dropline.services.serialize import drop_event_payload, rfc3339
from dropline.store.uow import UnitOfWork

ACTOR = "restock"


async def write_reopening(uow: UnitOfWork, drop: Drop, wave: Reopening, now: float) -> Drop:
    """Reopen ``drop`` (read under its row lock) for ``wave``; the drop as saved.

    Each in-stock offer comes down to what it sold (no movement: ending gave the rest
    back), then the wave's units are offered (``available`` → ``reserved``, refused as
    any offer is when too few are available; pre-order offers keep their cap). The
    windows' allocations follow the offers. The drop's end becomes the wave's
    ``ends_at`` (None: no end; the end that closed it has passed and would end it again
    at once), and ``drop.reopened`` carries the wave and the offers. Refused:
    ``InvalidTransition`` (not ended), ``Conflict`` (the wave's end has passed, or the
    SKU is no longer an in-stock offer), ``Archived``, ``InsufficientStock``."""
    check_reopen(drop, wave.ends_at, now)
    sku_id = wave.sku_id
    sku = await uow.catalog.get_sku(sku_id)
    if sku is None:
        raise NotFound(f"SKU {sku_id} not found", sku_id=sku_id)
    ensure_active(sku)
    preorder_skus = {p.sku_id for p in await uow.production.preorder_offers(drop.id)}
    before = await uow.drops.offers(drop.id)
    offers = reopened_offers(before, preorder_skus)
    if sku_id not in offers:
        raise Conflict("the drop no longer offers this SKU from stock", sku_id=sku_id)
    sold = {s: o.sold for s, o in offers.items()}
    offers[sku_id] = replace(offers[sku_id], offered=offers[sku_id].offered + wave.quantity)
    if offers[sku_id].offered > MAX_QUANTITY:
        raise InvalidInput("quantity must be between 0 and 10,000,000")
    for offer in offers.values():
        await uow.drops.upsert_offer(drop.id, offer)
    offered = {s: o.offered for s, o in (before | offers).items()}
    note = f"restock wave {wave.wave_id}"
    move = Movement(
        sku_id, wave.quantity, Bucket.AVAILABLE, Bucket.RESERVED, Reason.OFFER, drop.id, ACTOR, note
    )
    await uow.stock.apply([move])
    policy = await uow.drop_access.get(drop.id)
    if policy.windows:
        windows = reopened_windows(policy.windows, sold, sku_id, wave.quantity, wave.at)
        check_windows(windows, offered)
        await uow.drop_access.put(drop.id, replace(policy, windows=windows))
    updated = await uow.drops.save_reopened(drop, wave.ends_at)
    uow.record(
        DomainEvent(
            "drop.reopened",
            "drop",
            drop.id,
            updated.version,
            drop_event_payload(updated)
            | {
                "wave_id": wave.wave_id,
                "sku_id": sku_id,
                "quantity": wave.quantity,
                "ends_at": rfc3339(wave.ends_at),
                "offered": offered,
            },
        )
    )
    return updated

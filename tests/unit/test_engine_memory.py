"""The memory engine stores holds so a million of them cost the garbage collector and
memory little, and reads them back exactly as they were placed."""

from __future__ import annotations

import gc

from dropline.domain.live.holds import HoldItem, HoldRequest, HoldStatus, ItemKind
from dropline.engine.memory import MemoryEngine
from dropline.services.ports import DropSnapshot, EngineOffer

NOW = 1_000_000.0


def request(buyer: str, **extra: object) -> HoldRequest:
    items = (HoldItem(ItemKind.SKU, "sku_a", 2), HoldItem(ItemKind.BUNDLE, "bnd_1", 1))
    return HoldRequest(
        drop_id="drp",
        buyer_id=buyer,
        items=items,
        units={"sku_a": 3, "sku_b": 1},
        ttl_s=60,
        fingerprint="fp",
        **extra,  # type: ignore[arg-type]
    )


async def engine() -> MemoryEngine:
    e = MemoryEngine()
    offers = {s: EngineOffer(s, 10**6) for s in ("sku_a", "sku_b")}
    await e.ensure_drop(DropSnapshot("drp", True, offers))
    return e


async def test_a_hold_reads_back_exactly_as_placed_through_its_life() -> None:
    e = await engine()
    placed = await e.place_hold(
        request("ann", idempotency_key="k1", attribution={"utm_source": "live"}), NOW
    )
    assert await e.get_hold(placed.id) == placed
    assert placed.items[1].kind is ItemKind.BUNDLE
    assert placed.attribution == {"utm_source": "live"}
    again = await e.place_hold(
        request("ann", idempotency_key="k1", attribution={"utm_source": "live"}), NOW + 1
    )
    assert again == placed  # idempotent replay from the stored record
    paying = await e.start_payment(placed.id, NOW + 2, 300)
    assert paying.status is HoldStatus.PAYING and paying.extended
    assert await e.get_hold(placed.id) == paying
    converted = await e.convert(placed.id, NOW + 3)
    assert converted is not None and converted.status is HoldStatus.CONVERTED
    assert await e.get_hold(placed.id) == converted
    assert dict(converted.units) == {"sku_a": 3, "sku_b": 1}


async def test_expired_holds_come_back_whole() -> None:
    e = await engine()
    placed = await e.place_hold(request("bob"), NOW)
    [expired] = await e.expire_due(NOW + 61)
    assert expired.id == placed.id and expired.status is HoldStatus.EXPIRED
    assert expired.items == placed.items and dict(expired.units) == dict(placed.units)


async def test_stored_holds_are_not_walked_by_the_garbage_collector() -> None:
    e = await engine()
    for n in range(2000):
        await e.place_hold(request(f"b{n}", attribution={"ref": "x"}), NOW)
    gc.collect()
    gc.collect()  # a tuple is untracked once the tuples inside it are
    tracked = [r for r in e._holds.values() if gc.is_tracked(r)]
    assert tracked == []  # plain tuples of atoms
    # The table's shards stay tracked (a plain dict would bounce into generation 0).
    assert all(gc.is_tracked(shard) for shard in e._holds._shards)
    shapes = {id(r[3]) for r in e._holds.values()} | {id(r[4]) for r in e._holds.values()}
    assert len(shapes) == 2  # one shared items tuple, one shared units tuple

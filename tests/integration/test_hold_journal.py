"""Hold events drained into pages, on both backend profiles: exactly once (a crash
before the engine's ack included), the outbox only for subscribed endpoints, and the
migration that pages hold events an earlier version wrote to the outbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, select

from dropline.bootstrap import Container
from dropline.domain.live.holds import Hold, HoldItem, HoldStatus, ItemKind
from dropline.services.live.hold_journal import drain_hold_events, drop_hold_events, read_stored
from dropline.services.serialize import hold_dict
from dropline.store.db import alembic_config, create_engine, upgrade
from dropline.store.live.tables import hold_event_pages
from dropline.store.platform.tables import outbox
from support import seed_shop, sku_item


async def hold_rows_in_outbox(c: Container) -> list[dict[str, object]]:
    async with c.uow(readonly=True) as uow:
        return [r for r in await uow.outbox.list(limit=10_000) if r["aggregate_type"] == "hold"]


async def test_a_drain_pass_writes_one_page_per_drop_with_its_tally(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=10)
    holds = [await c.holds.place(shop.drop_id, f"b{n}", [sku_item(shop.skus[0])]) for n in range(5)]
    await c.holds.release(holds[0].id, "b0")

    assert await drain_hold_events(c.engine, c.uow) == 6
    async with c.uow(readonly=True) as uow:
        pages = await uow.hold_events.tallies_after(shop.drop_id, 0)
        events = await drop_hold_events(uow, shop.drop_id)
    assert [t for _, t in pages] == [{"hold.placed": 5, "hold.released": 1}]
    assert [(e.type, e.aggregate_id) for e in events] == [
        *(("hold.placed", h.id) for h in holds),
        ("hold.released", holds[0].id),
    ]
    assert events[-1].payload["status"] == "released"
    # nobody subscribes to hold events: none of them became an outbox row
    assert await hold_rows_in_outbox(c) == []
    assert await drain_hold_events(c.engine, c.uow) == 0


async def test_a_crash_between_commit_and_ack_stores_nothing_twice(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    shop = await seed_shop(c, units=10)
    for n in range(4):
        await c.holds.place(shop.drop_id, f"b{n}", [sku_item(shop.skus[0])])

    async def die(event_ids: list[str]) -> None:
        raise ConnectionError("worker killed before the ack")

    real_ack = c.engine.ack_events
    monkeypatch.setattr(c.engine, "ack_events", die)
    with pytest.raises(ConnectionError):
        await drain_hold_events(c.engine, c.uow)
    monkeypatch.setattr(c.engine, "ack_events", real_ack)
    # more taps arrive, then the next pass re-reads the four stored events
    for n in range(4, 6):
        await c.holds.place(shop.drop_id, f"b{n}", [sku_item(shop.skus[0])])
    assert await drain_hold_events(c.engine, c.uow) == 6

    async with c.uow(readonly=True) as uow:
        events = await drop_hold_events(uow, shop.drop_id)
        pages = await uow.hold_events.tallies_after(shop.drop_id, 0)
    assert sorted(e.payload["buyer_id"] for e in events) == [f"b{n}" for n in range(6)]
    assert [t for _, t in pages] == [{"hold.placed": 4}, {"hold.placed": 2}]
    assert await c.engine.read_events(10) == []


async def test_concurrent_drains_store_each_event_once(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=100)
    await asyncio.gather(
        *(c.holds.place(shop.drop_id, f"b{n}", [sku_item(shop.skus[0])]) for n in range(40))
    )
    await asyncio.gather(*(drain_hold_events(c.engine, c.uow, batch=b) for b in (3, 7, 11)))
    async with c.uow(readonly=True) as uow:
        events = await drop_hold_events(uow, shop.drop_id)
    assert len(events) == 40 and len({e.id for e in events}) == 40


def page(drop_id: str, placed: int) -> dict[str, object]:
    return {"drop_id": drop_id, "n": placed, "tally": {"hold.placed": placed}, "events": []}


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite: one writer
async def test_the_monitor_counts_a_page_that_commits_after_a_later_one(
    container: Container,
) -> None:
    """Two workers draining different drops: the page with the lower ``seq`` commits
    last. A monitor tailing all drops by one ``seq`` skipped it for good."""
    c = container
    async with c.uow() as slow:  # worker 1: drop a's page, seq n, not yet committed
        await slow.hold_events.lock_cursors(["drp_a"])
        await slow.hold_events.add_pages([page("drp_a", 3)])
        async with c.uow() as fast:  # worker 2: drop b's page, seq n + 1, committed
            await fast.hold_events.lock_cursors(["drp_b"])
            await fast.hold_events.add_pages([page("drp_b", 2)])
            await fast.commit()
        assert (await c.monitor._hold_tally("drp_b"))["hold.placed"] == 2
        assert (await c.monitor._hold_tally("drp_a"))["hold.placed"] == 0
        await slow.commit()
    assert (await c.monitor._hold_tally("drp_a"))["hold.placed"] == 3
    assert (await c.monitor._hold_tally("drp_b"))["hold.placed"] == 2


async def test_subscribed_hold_events_also_reach_the_outbox(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=10)
    await c.webhooks.create_endpoint("https://crm.example/hooks", ["hold.released"])
    a = await c.holds.place(shop.drop_id, "ann", [sku_item(shop.skus[0])])
    await c.holds.place(shop.drop_id, "bo", [sku_item(shop.skus[0])])
    await c.holds.release(a.id, "ann")
    await drain_hold_events(c.engine, c.uow)

    rows = await hold_rows_in_outbox(c)
    assert [(r["type"], r["aggregate_id"], r["aggregate_version"]) for r in rows] == [
        ("hold.released", a.id, 3)
    ]
    assert rows[0]["payload"]["status"] == "released"
    # ... and the fan-out turns them into deliveries like any other event
    assert await c.webhooks.fan_out() == 1


def test_the_migration_pages_hold_events_already_in_the_outbox(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0006_catalog_version")
    at = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    payloads: dict[str, dict[str, object]] = {}

    def hold_event(n: int, drop: str, type_: str) -> dict[str, object]:
        payload = hold_dict(
            Hold(
                id=f"hld_{n}",
                drop_id=drop,
                buyer_id=f"b{n}",
                items=(HoldItem(ItemKind.SKU, "sku_1", 1),),
                units={"sku_1": 1},
                status=HoldStatus.EXPIRED if type_ == "hold.expired" else HoldStatus.ACTIVE,
                created_at=at.timestamp() - 90,
                expires_at=at.timestamp(),
                attribution={"channel": "live"},
            )
        )
        payloads[f"evt_{n}"] = payload
        return {
            "id": f"evt_{n}",
            "type": type_,
            "aggregate_type": "hold",
            "aggregate_id": f"hld_{n}",
            "aggregate_version": 1,
            "payload": payload,
            "occurred_at": at,
        }

    async def fill() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(
                insert(outbox),
                [
                    hold_event(1, "drp_a", "hold.placed"),
                    hold_event(2, "drp_a", "hold.placed"),
                    hold_event(3, "drp_b", "hold.placed"),
                    {**hold_event(9, "drp_a", "order.paid"), "aggregate_type": "order"},
                    hold_event(4, "drp_a", "hold.expired"),
                ],
            )
        await engine.dispose()

    async def pages() -> list[tuple[str, int, dict[str, int], list[str], str]]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            rows = list(
                await conn.execute(select(hold_event_pages).order_by(hold_event_pages.c.seq))
            )
        await engine.dispose()
        out = []
        for r in rows:
            events = [read_stored(r.seq, r.drop_id, raw) for raw in r.events]
            # read back, each event is exactly what the outbox row held
            assert all(e.payload == payloads[e.id] for e in events)
            out.append((r.drop_id, r.n, r.tally, [e.id for e in events], events[0].occurred_at))
        return out

    asyncio.run(fill())
    upgrade(url)
    stamp = "2026-11-20T18:00:00Z"
    assert asyncio.run(pages()) == [
        ("drp_a", 2, {"hold.placed": 2}, ["evt_1", "evt_2"], stamp),
        ("drp_b", 1, {"hold.placed": 1}, ["evt_3"], stamp),
        ("drp_a", 1, {"hold.expired": 1}, ["evt_4"], stamp),
    ]
    command.downgrade(alembic_config(url), "0006_catalog_version")
    upgrade(url)
    assert asyncio.run(pages()) == [
        ("drp_a", 2, {"hold.placed": 2}, ["evt_1", "evt_2"], stamp),
        ("drp_b", 1, {"hold.placed": 1}, ["evt_3"], stamp),
        ("drp_a", 1, {"hold.expired": 1}, ["evt_4"], stamp),
    ]

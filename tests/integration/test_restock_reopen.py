"""The second wave of an ended drop: a restock wave planned on an ended drop reopens it
at its time, exactly once, on SQLite with the in-process engine and PostgreSQL with
Redis. The offers come down to what they sold and the wave's units go on sale behind
the waitlist from the first sale; the ledger stays consistent before, during and after;
the wave's ``ends_at`` ends the drop again through the schedule job, and the passed end
that closed it never does; a cancelled wave, a refused one or one planned on the live
drop leaves the drop ended; bad input is a 422 that changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.domain import errors as e
from dropline.domain.live.access import AccessWindow
from dropline.domain.live.drops import Drop, DropStatus, Reopening
from dropline.domain.stock.buckets import Bucket
from dropline.services.live.drops import DropService
from dropline.services.live.public_view import public_drop
from dropline.services.live.schedule import DropSchedule
from dropline.services.ports import ManualClock
from dropline.store.live.drop_repo import DropRepository
from dropline.store.live.waitlist_repo import WaitlistRepository
from support import seed_shop, sku_item

VISA = "4242424242424242"


def when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


async def verified(c: Container, drop_id: str, sku_id: str) -> tuple[int, int]:
    """(offered, sold) after checking the ledger replays to the stored levels and the
    drop's reserved units are its unsold offer while it sells, none once it ended."""
    assert all(check.consistent for check in await c.stock.verify())
    drop, offers, _ = await c.drops.get(drop_id)
    offer = offers[sku_id]
    on_sale = drop.status is not DropStatus.ENDED
    assert (await c.stock.level(sku_id)).get(Bucket.RESERVED) == (
        offer.offered - offer.sold if on_sale else 0
    )
    if on_sale:
        counts = (await c.engine.counts(drop_id))[sku_id]
        assert counts.remaining + counts.held + offer.sold == offer.offered
    return offer.offered, offer.sold


async def events(c: Container, drop_id: str, type_: str) -> list[dict[str, Any]]:
    async with c.uow(readonly=True) as uow:
        return await uow.outbox.list(type_prefix=type_, aggregate_id=drop_id)


async def console_page(c: Container, path: str) -> str:
    """A console page's HTML, as an ops user logged in to ``/ui`` sees it."""
    from dropline.api.app import create_app

    app = create_app(container=c)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            key, _ = await c.access.create_key("ops", "ops")
            form = await http.get("/ui/login")
            token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
            await http.post("/ui/login", data={"api_key": key, "csrf_token": token})
            return (await http.get(path)).text


async def ended_with_a_line(c: Container) -> tuple[str, str]:
    """A drop of 2 units that sold 1 and ended with ann and bo still in line for more;
    2 more units received. Returns (drop id, SKU id)."""
    shop = await seed_shop(c, units=2, ttl=30)
    drop_id, sku = shop.drop_id, shop.skus[0]
    paid = await c.holds.place(drop_id, "early0", [sku_item(sku)])
    await c.holds.place(drop_id, "early1", [sku_item(sku)])  # never paid
    assert (await c.checkout.start(paid.id, "early0", VISA)).order is not None
    for buyer in ("ann", "bo"):
        await c.waitlist.join(drop_id, sku, buyer)
    await c.drops.transition(drop_id, DropStatus.ENDED)
    assert await verified(c, drop_id, sku) == (2, 1)
    assert (await c.stock.level(sku)).available == 1  # the unsold unit went back
    await c.stock.receive(sku, 2)
    return drop_id, sku


async def test_a_wave_reopens_an_ended_drop_serves_its_line_and_ends_at_its_end(
    container: Container, clock: ManualClock
) -> None:
    c = container
    drop_id, sku = await ended_with_a_line(c)
    now = clock.now()
    wave = await c.restocks.schedule(drop_id, sku, 3, when(now + 60), ends_at=when(now + 3600))
    assert wave["reopens"] is True and wave["status"] == "scheduled"
    assert wave["ends_at"] == when(now + 3600).isoformat().replace("+00:00", "Z")
    assert await c.restocks.run_once() == []  # not due yet
    assert (await c.drops.get(drop_id))[0].status is DropStatus.ENDED
    with pytest.raises(e.DropNotLive):
        await c.holds.place(drop_id, "tapper", [sku_item(sku)])

    clock.advance(60)
    assert await c.restocks.run_once() == [wave["id"]]
    assert await c.restocks.run_once() == []  # exactly once
    drop = (await c.drops.get(drop_id))[0]
    assert drop.status is DropStatus.LIVE and drop.ends_at == pytest.approx(now + 3600)
    # the offer came down to what it sold, then the wave's 3 units were offered
    assert await verified(c, drop_id, sku) == (1 + 3, 1)
    [reopened] = await events(c, drop_id, "drop.reopened")
    assert reopened["payload"]["wave_id"] == wave["id"]
    assert reopened["payload"]["offered"] == {sku: 4}
    # the line from the first sale is served first: ann and bo each hold a claim
    [done] = await c.restocks.waves(drop_id)
    assert done["status"] == "done" and done["waitlisted"] == 2 and done["on_sale"] == 1
    for buyer in ("ann", "bo"):
        assert (await c.waitlist.mine(drop_id, buyer))[0]["status"] == "offered"
    # holds work again, for what the line did not take
    with pytest.raises(e.StockError):
        await c.holds.place(drop_id, "tapper", [sku_item(sku, 2)])
    hold = await c.holds.place(drop_id, "tapper", [sku_item(sku)])
    assert (await c.checkout.start(hold.id, "tapper", VISA)).order is not None
    assert await verified(c, drop_id, sku) == (4, 2)

    # shown as live everywhere, with the wave in the monitor and the report
    snap = await c.monitor.snapshot(drop_id)
    assert snap["drop"]["status"] == "live" and snap["drop"]["ended_at"] is None
    assert snap["timing"]["phase"] == "live"
    [shown] = snap["restocks"]
    assert shown["id"] == wave["id"] and shown["reopens"] is True
    public = await public_drop(c.engine, c.drops, c.drops.cache, drop_id)
    assert public["status"] == "live"
    report = await c.reports.build(drop_id)
    assert report["balanced"] and report["totals"]["units_sold"] == 2
    assert [w["id"] for w in report["restocks"]] == [wave["id"]]
    for path in (f"/ui/drops/{drop_id}", f"/ui/drops/{drop_id}/report"):
        assert "reopens the drop until" in await console_page(c, path), path

    # the end that closed it has passed and is gone: the schedule leaves it open
    schedule = DropSchedule(c.drops)
    assert await schedule.run_once() == []
    clock.advance(3600 - 60)
    assert await schedule.run_once() == [(drop_id, DropStatus.ENDED)]
    assert await verified(c, drop_id, sku) == (4, 2)
    report = await c.reports.build(drop_id)
    assert report["drop"]["status"] == "ended" and report["balanced"]
    # the wave took the 3 available units; the 2 claims nobody paid went back
    assert (await c.stock.level(sku)).available == 2


async def test_a_reopened_drop_without_an_end_stays_live_and_a_stale_read_never_ends_it(
    container: Container, clock: ManualClock
) -> None:
    """The drop ended at its scheduled end; the wave reopens it without an end. Even a
    schedule pass that read the drop before it ended (live, its end passed) and acts
    only now does not end it again."""
    c = container
    shop = await seed_shop(c, units=2, live=False)
    drop_id, sku = shop.drop_id, shop.skus[0]
    async with c.uow() as uow:  # an end 30 s after it opened
        drop = await uow.drops.get(drop_id, lock=True)
        assert drop is not None
        await uow.drops.update_details(drop, ends_at=when(clock.now() + 30))
        await uow.commit()
    await c.drops.transition(drop_id, DropStatus.SCHEDULED)
    await c.drops.transition(drop_id, DropStatus.LIVE)
    clock.advance(30)
    async with c.uow(readonly=True) as uow:
        [stale] = await uow.drops.due_for_schedule(clock.now())
    assert stale.status is DropStatus.LIVE
    assert await DropSchedule(c.drops).run_once() == [(drop_id, DropStatus.ENDED)]

    wave = await c.restocks.schedule(drop_id, sku, 1)
    assert wave["reopens"] is True and wave["ends_at"] is None
    assert await c.restocks.run_once() == [wave["id"]]
    drop = (await c.drops.get(drop_id))[0]
    assert drop.status is DropStatus.LIVE and drop.ends_at is None

    async def stale_read(self: DropRepository, now: float, limit: int = 100) -> list[Drop]:
        return [stale]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DropRepository, "due_for_schedule", stale_read)
        assert await DropSchedule(c.drops).run_once() == []
    clock.advance(86400)
    assert await DropSchedule(c.drops).run_once() == []
    assert (await c.drops.get(drop_id))[0].status is DropStatus.LIVE
    assert await verified(c, drop_id, sku) == (1, 0)
    assert len(await events(c, drop_id, "drop.ended")) == 1


async def test_a_wave_that_does_not_reopen_leaves_the_drop_ended(
    container: Container, clock: ManualClock
) -> None:
    """Cancelled before its time, refused when applied (too few units), or planned
    while the drop was live: the drop stays ended and nothing moves."""
    c = container
    drop_id, sku = await ended_with_a_line(c)
    now = clock.now()
    cancelled = await c.restocks.schedule(drop_id, sku, 1, when(now + 60))
    await c.restocks.cancel(cancelled["id"])
    too_many = await c.restocks.schedule(drop_id, sku, 4, when(now + 60))  # 3 available
    level = await c.stock.level(sku)
    clock.advance(60)
    assert await c.restocks.run_once() == [too_many["id"]]
    waves = {w["id"]: w for w in await c.restocks.waves(drop_id)}
    assert waves[cancelled["id"]]["status"] == "cancelled"
    assert waves[too_many["id"]]["status"] == "failed" and waves[too_many["id"]]["error"]
    assert (await c.drops.get(drop_id))[0].status is DropStatus.ENDED
    assert await verified(c, drop_id, sku) == (2, 1)  # the offer is untouched
    assert await c.stock.level(sku) == level
    assert await events(c, drop_id, "drop.reopened") == []
    for buyer in ("ann", "bo"):  # still waiting for a wave that reopens the drop
        assert (await c.waitlist.mine(drop_id, buyer))[0]["status"] == "waiting"

    # a wave planned while the drop was live does not reopen it once it ended
    live = await seed_shop(c, units=1)
    await c.stock.receive(live.skus[0], 1)
    planned = await c.restocks.schedule(live.drop_id, live.skus[0], 1, when(clock.now() + 60))
    assert planned["reopens"] is False
    await c.drops.transition(live.drop_id, DropStatus.ENDED)
    clock.advance(60)
    assert await c.restocks.run_once() == [planned["id"]]
    [failed] = await c.restocks.waves(live.drop_id)
    assert failed["status"] == "failed" and "ended after this wave was planned" in failed["error"]
    assert (await c.drops.get(live.drop_id))[0].status is DropStatus.ENDED


async def test_a_reopen_keeps_the_access_windows_to_the_new_offer(
    container: Container, clock: ManualClock
) -> None:
    """The windows allocated the whole first offer; what it left unsold went back to
    stock with the end, so the reopened windows allocate what was sold plus the wave."""
    c = container
    shop = await seed_shop(c, units=4)
    drop_id, sku = shop.drop_id, shop.skus[0]
    now = clock.now()
    await c.access_windows.set_windows(
        drop_id,
        [AccessWindow(now - 60, ("gold",), {sku: 2}), AccessWindow(now - 30, (), {sku: 2})],
    )
    hold = await c.holds.place(drop_id, "g", [sku_item(sku)], tiers=frozenset({"gold"}))
    assert (await c.checkout.start(hold.id, "g", VISA)).order is not None
    await c.drops.transition(drop_id, DropStatus.ENDED)
    await c.restocks.schedule(drop_id, sku, 2)
    await c.restocks.run_once()
    assert await verified(c, drop_id, sku) == (1 + 2, 1)
    windows = (await c.access_windows.get(drop_id)).windows
    # 1 sold of 4 allocated: 3 trimmed from the latest window first, then the wave's 2
    assert [dict(w.allocation or {}) for w in windows] == [{sku: 1}, {sku: 2}]
    got = await c.holds.place(drop_id, "fan", [sku_item(sku, 2)])
    assert got.units[sku] == 2
    with pytest.raises(e.SoldOut):
        await c.holds.place(drop_id, "fan2", [sku_item(sku)])


# ---------------------------------------------------------------- two workers


@pytest.fixture
async def other(container: Container, clock: ManualClock) -> AsyncIterator[Container]:
    """A second worker process on the same database and engine."""
    settings = Settings(
        database_url=container.settings.database_url,
        engine_url=container.settings.engine_url,
        background_tasks=False,
    )
    c = await build(settings, clock=clock)
    try:
        yield c
    finally:
        await c.close()


async def test_two_workers_reopen_the_drop_once(
    container: Container, other: Container, clock: ManualClock
) -> None:
    c = container
    drop_id, sku = await ended_with_a_line(c)
    wave = await c.restocks.schedule(drop_id, sku, 2, when(clock.now() + 10))
    clock.advance(10)
    barrier = asyncio.Barrier(2)
    read = WaitlistRepository.due_waves

    async def in_lockstep(self: WaitlistRepository, now: datetime, limit: int = 50) -> Any:
        due = await read(self, now, limit)
        async with asyncio.timeout(10):
            await barrier.wait()  # both saw the wave due before either claims it
        return due

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(WaitlistRepository, "due_waves", in_lockstep)
        ran = await asyncio.gather(c.restocks.run_once(), other.restocks.run_once())
    assert sorted(ran, key=len) == [[], [wave["id"]]]
    assert len(await events(c, drop_id, "drop.reopened")) == 1
    drop = (await c.drops.get(drop_id))[0]
    assert drop.status is DropStatus.LIVE
    winner = c if ran[0] else other
    assert await verified(winner, drop_id, sku) == (1 + 2, 1)


async def test_the_waves_of_a_second_wave_reopen_the_drop_once_and_each_add_units(
    container: Container, clock: ManualClock
) -> None:
    """One wave per SKU reopens the drop together: when the other SKU's wave reopens it
    between this wave's read of the ended drop and its own reopen, this one adds its
    units to the live drop instead of failing."""
    c = container
    shop = await seed_shop(c, units=1, skus=2)
    drop_id, (tee, cap) = shop.drop_id, shop.skus
    await c.drops.transition(drop_id, DropStatus.ENDED)
    end = when(clock.now() + 600)
    first = await c.restocks.schedule(drop_id, tee, 1, ends_at=end)
    second = await c.restocks.schedule(drop_id, cap, 1, ends_at=end)
    reopen = DropService.reopen

    async def sibling_first(self: DropService, drop_id: str, wave: Reopening) -> Drop:
        if wave.wave_id == second["id"]:
            assert await c.restocks.apply(first["id"])  # the other SKU's wave wins
        return await reopen(self, drop_id, wave)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DropService, "reopen", sibling_first)
        assert await c.restocks.apply(second["id"])
    assert [w["status"] for w in await c.restocks.waves(drop_id)] == ["done", "done"]
    assert len(await events(c, drop_id, "drop.reopened")) == 1
    drop = (await c.drops.get(drop_id))[0]
    assert drop.status is DropStatus.LIVE and drop.ends_at == pytest.approx(end.timestamp())
    for sku in (tee, cap):
        assert await verified(c, drop_id, sku) == (1, 0)


# ---------------------------------------------------------------- the API


async def test_api_reopening_waves_and_their_bad_input(
    container: Container, api: httpx.AsyncClient, clock: ManualClock
) -> None:
    c = container
    live = await seed_shop(c, units=1)
    ended = await seed_shop(c, units=1)
    await c.drops.transition(ended.drop_id, DropStatus.ENDED)
    draft = await seed_shop(c, units=1, live=False)
    now = clock.now()

    def at(ts: float) -> str:
        return when(ts).isoformat().replace("+00:00", "Z")

    async def post(drop_id: str, sku: str, **body: Any) -> httpx.Response:
        return await api.post(
            f"/v1/drops/{drop_id}/restocks", json={"sku_id": sku, "quantity": 1} | body
        )

    refused = [
        # an end on a live drop: it ends by its own schedule or by hand
        (live, {"ends_at": at(now + 600)}),
        # an end before or at the wave's time, or already past
        (ended, {"at": at(now + 600), "ends_at": at(now + 300)}),
        (ended, {"at": at(now + 600), "ends_at": at(now + 600)}),
        (ended, {"ends_at": at(now - 10)}),
    ]
    for shop, body in refused:
        r = await post(shop.drop_id, shop.skus[0], **body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["code"] == "validation_error" and r.json()["field"] == "ends_at"
    r = await post(draft.drop_id, draft.skus[0])
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    for shop in (live, ended, draft):
        assert (await api.get(f"/v1/drops/{shop.drop_id}/restocks")).json() == []

    r = await post(ended.drop_id, ended.skus[0], at=at(now + 60), ends_at=at(now + 7200))
    assert r.status_code == 201 and r.json()["reopens"] is True
    assert r.json()["ends_at"] == at(now + 7200)
    # the waves that reopen the drop end it together
    r = await post(ended.drop_id, ended.skus[0], at=at(now + 60), ends_at=at(now + 3600))
    assert r.status_code == 422 and r.json()["field"] == "ends_at"
    r = await post(ended.drop_id, ended.skus[0], at=at(now + 60))
    assert r.status_code == 422 and r.json()["field"] == "ends_at"
    r = await post(ended.drop_id, ended.skus[0], at=at(now + 120), ends_at=at(now + 7200))
    assert r.status_code == 201
    waves = (await api.get(f"/v1/drops/{ended.drop_id}/restocks")).json()
    assert [w["ends_at"] for w in waves] == [at(now + 7200)] * 2
    r = await post(live.drop_id, live.skus[0], at=at(now + 60))
    assert r.status_code == 201 and r.json()["reopens"] is False
    assert r.json()["ends_at"] is None
    assert (await c.drops.get(ended.drop_id))[0].status is DropStatus.ENDED

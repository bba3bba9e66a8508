"""Scheduled drops: a scheduled drop goes live at ``starts_at`` and ends at ``ends_at``
exactly once, even when two workers run the schedule pass at the same moment; the
public view and the monitor count down to the start; bad schedules are refused.

The second worker is a second container on the same database (and, on PostgreSQL,
the same Redis engine): its own connection pool, services and caches, as another
process would have."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.domain.errors import InvalidInput
from dropline.domain.live.drops import Drop, DropStatus
from dropline.services.live.public_view import public_drop
from dropline.services.live.schedule import DropSchedule
from dropline.services.ports import ManualClock
from dropline.store.live.drop_repo import DropRepository
from dropline.store.platform.tables import outbox
from support import unique_suffix


async def _scheduled_drop(
    c: Container,
    clock: ManualClock,
    start_in: float,
    end_in: float | None = None,
    units: int = 5,
    schedule: bool = True,
) -> tuple[str, str]:
    """A drop offering ``units`` of one SKU, scheduled to start ``start_in`` seconds
    from now (and end ``end_in`` seconds from now); returns (drop id, SKU id)."""
    product = await c.catalog.create_product("Tee")
    sku = await c.catalog.create_sku(product.id, f"TEE-{unique_suffix()}", 2500, "USD", {})
    await c.stock.receive(sku.id, units)
    now = clock.now()
    drop = await c.drops.create(
        "Scheduled drop",
        "USD",
        starts_at=now + start_in,
        ends_at=None if end_in is None else now + end_in,
    )
    await c.drops.set_offer(drop.id, sku.id, units)
    if schedule:
        await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    return drop.id, sku.id


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


async def _events(c: Container, drop_id: str, type_: str) -> int:
    async with c.uow(readonly=True) as uow:
        n = await uow.conn.scalar(
            select(func.count())
            .select_from(outbox)
            .where(outbox.c.aggregate_id == drop_id, outbox.c.type == type_)
        )
    return int(n or 0)


async def _race(a: Container, b: Container) -> list[tuple[Container, str, DropStatus]]:
    """One schedule pass in each worker, concurrently, both past the read of what is
    due before either moves a drop (so both try every due drop); every transition
    made, and by whom."""
    barrier = asyncio.Barrier(2)
    read = DropRepository.due_for_schedule

    async def in_lockstep(self: DropRepository, now: float, limit: int = 100) -> list[Drop]:
        due = await read(self, now, limit)
        async with asyncio.timeout(10):
            await barrier.wait()
        return due

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DropRepository, "due_for_schedule", in_lockstep)
        made_a, made_b = await asyncio.gather(
            DropSchedule(a.drops).run_once(), DropSchedule(b.drops).run_once()
        )
    return [(a, d, s) for d, s in made_a] + [(b, d, s) for d, s in made_b]


async def test_a_scheduled_drop_opens_at_its_start_exactly_once_with_two_workers(
    container: Container, other: Container, clock: ManualClock
) -> None:
    c = container
    drops = [(await _scheduled_drop(c, clock, start_in=10))[0] for _ in range(3)]
    clock.advance(9.5)
    assert await _race(c, other) == []  # not yet
    for drop_id in drops:
        assert (await c.drops.get(drop_id))[0].status is DropStatus.SCHEDULED

    clock.advance(0.5)  # the start, to the second
    made = await _race(c, other)
    assert sorted(d for _, d, _ in made) == sorted(drops)  # each drop once, in one worker
    assert {s for _, _, s in made} == {DropStatus.LIVE}
    for winner, drop_id, _ in made:
        drop = (await c.drops.get(drop_id))[0]
        assert drop.status is DropStatus.LIVE
        assert drop.version == 3  # created 1, scheduled 2, live 3: one transition
        assert await _events(c, drop_id, "drop.live") == 1
        # the engine carries the drop, as after a manual go-live
        counts = await winner.engine.counts(drop_id)
        assert [x.remaining for x in counts.values()] == [5]
        # each worker's monitor stops the countdown, whoever opened the drop
        for worker in (c, other):
            assert (await worker.monitor.snapshot(drop_id))["drop"]["starts_in_s"] is None

    clock.advance(30)
    assert await _race(c, other) == []  # live drops are left alone


async def test_a_live_drop_ends_at_its_end_exactly_once_and_gives_its_stock_back(
    container: Container, other: Container, clock: ManualClock
) -> None:
    c = container
    drop_id, sku_id = await _scheduled_drop(c, clock, start_in=5, end_in=65, units=4)
    assert (await c.stock.level(sku_id)).available == 0
    clock.advance(5)
    assert [(d, s) for _, d, s in await _race(c, other)] == [(drop_id, DropStatus.LIVE)]
    await c.drops.transition(drop_id, DropStatus.PAUSED)  # a paused drop ends too
    clock.advance(59.9)
    assert await _race(c, other) == []
    clock.advance(0.1)
    assert [(d, s) for _, d, s in await _race(c, other)] == [(drop_id, DropStatus.ENDED)]
    assert (await c.drops.get(drop_id))[0].status is DropStatus.ENDED
    assert await _events(c, drop_id, "drop.ended") == 1
    assert (await c.stock.level(sku_id)).available == 4  # unsold units returned
    clock.advance(10)
    assert await _race(c, other) == []


async def test_a_drop_whose_window_passed_before_it_opened_ends_without_going_live(
    container: Container, clock: ManualClock
) -> None:
    c = container
    drop_id, _ = await _scheduled_drop(c, clock, start_in=5, end_in=10)
    clock.advance(20)  # no pass ran in between (every worker was down)
    assert await DropSchedule(c.drops).run_once() == [(drop_id, DropStatus.ENDED)]
    assert await _events(c, drop_id, "drop.live") == 0


async def test_drafts_and_drops_that_cannot_open_are_left_alone(
    container: Container, clock: ManualClock
) -> None:
    c = container
    draft, _ = await _scheduled_drop(c, clock, start_in=5, schedule=False)
    empty = await c.drops.create("No offer", "USD", starts_at=clock.now() + 5)
    await c.drops.transition(empty.id, DropStatus.SCHEDULED)
    clock.advance(6)
    assert await DropSchedule(c.drops).run_once() == []  # the empty one is logged, not fatal
    assert (await c.drops.get(draft))[0].status is DropStatus.DRAFT
    assert (await c.drops.get(empty.id))[0].status is DropStatus.SCHEDULED


async def test_bad_schedules_are_refused(container: Container, clock: ManualClock) -> None:
    c = container
    now = clock.now()
    with pytest.raises(InvalidInput, match="ends_at must be after starts_at"):
        await c.drops.create("Backwards", "USD", starts_at=now + 60, ends_at=now + 30)
    with pytest.raises(InvalidInput, match="ends_at must be after starts_at"):
        await c.drops.create("Zero length", "USD", starts_at=now + 60, ends_at=now + 60)
    drop_id, _ = await _scheduled_drop(c, clock, start_in=10, schedule=False)
    clock.advance(10)
    with pytest.raises(InvalidInput, match="starts_at is in the past"):
        await c.drops.transition(drop_id, DropStatus.SCHEDULED)
    assert (await c.drops.get(drop_id))[0].status is DropStatus.DRAFT
    # a drop without a start may still be scheduled and opened by hand
    plain = await c.drops.create("By hand", "USD")
    assert (await c.drops.transition(plain.id, DropStatus.SCHEDULED)).status is (
        DropStatus.SCHEDULED
    )


async def test_the_api_takes_and_shows_the_schedule_and_refuses_a_backwards_one(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    r = await api.post(
        "/v1/drops",
        json={
            "name": "Backwards",
            "currency": "USD",
            "starts_at": "2030-01-01T12:00:00Z",
            "ends_at": "2030-01-01T11:00:00Z",
        },
    )
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    r = await api.post(
        "/v1/drops",
        json={
            "name": "Friday",
            "currency": "USD",
            "starts_at": "2030-01-01T12:00:00Z",
            "ends_at": "2030-01-01T13:00:00Z",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["starts_at"], body["ends_at"]) == ("2030-01-01T12:00:00Z", "2030-01-01T13:00:00Z")
    r = await api.post(
        "/v1/drops", json={"name": "Bad", "currency": "USD", "ends_at": "2030-01-01T13:00:00"}
    )
    assert r.status_code == 422


async def test_the_public_view_and_the_monitor_count_down_to_the_start(
    container: Container, clock: ManualClock
) -> None:
    c = container
    drop_id, _ = await _scheduled_drop(c, clock, start_in=90.5, end_in=3600)

    async def views() -> tuple[dict[str, object], dict[str, object]]:
        public = await public_drop(c.engine, c.drops, c.drops.cache, drop_id)
        return public, (await c.monitor.snapshot(drop_id))["drop"]

    public, monitor = await views()
    for view in (public, monitor):
        assert view["starts_in_s"] == 91  # rounded up: never "0" before the start
        assert view["starts_at"] is not None and view["ends_at"] is not None
    clock.advance(90)
    public, monitor = await views()
    assert public["starts_in_s"] == monitor["starts_in_s"] == 1
    clock.advance(0.5)
    public, _ = await views()
    assert (public["status"], public["starts_in_s"]) == ("scheduled", 0)  # due, job not run
    await DropSchedule(c.drops).run_once()
    public, monitor = await views()
    assert (public["status"], public["starts_in_s"]) == ("live", None)
    assert monitor["starts_in_s"] is None


async def test_a_drop_without_a_start_has_no_countdown(container: Container) -> None:
    c = container
    drop = await c.drops.create("Whenever", "USD")
    public = await public_drop(c.engine, c.drops, c.drops.cache, drop.id)
    assert (public["starts_at"], public["ends_at"], public["starts_in_s"]) == (None, None, None)


async def test_the_monitor_page_shows_the_countdown_and_the_schedule_job_runs(
    container: Container, clock: ManualClock
) -> None:
    from dropline.api.app import create_app

    c = container
    assert "drop-schedule" in [name for name, _, _ in c.jobs]
    drop_id, _ = await _scheduled_drop(c, clock, start_in=125, end_in=3600)
    key, _ = await c.access.create_key("ops", "ops")
    app = create_app(container=c)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as ui:
            form = await ui.get("/ui/login")
            token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
            r = await ui.post("/ui/login", data={"api_key": key, "csrf_token": token})
            assert r.status_code == 303
            page = (await ui.get(f"/ui/drops/{drop_id}")).text
            assert 'id="clock" data-phase="before" data-seconds="125"' in page
            clock.advance(125)
            await DropSchedule(c.drops).run_once()
            page = (await ui.get(f"/ui/drops/{drop_id}")).text
            assert 'data-phase="before"' not in page  # live: no countdown

"""The waitlist under access windows, window by window, through the services on both
backend profiles (SQLite with the in-process engine, PostgreSQL with Redis): an entry
keeps the tiers its buyer joined with and is served only once a window admitting them
has opened. Until then the line passes over it without moving it: the unit goes to the
next entry in line order whose window is open, and the passed-over entry is served by
a pass after its window opens. No window is entered early through the line; an entry
no window admits any more is skipped with a note."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from alembic import command

from dropline.bootstrap import Container
from dropline.domain import errors as e
from dropline.domain.live.access import AccessWindow
from dropline.domain.live.drops import DropStatus
from dropline.domain.live.waitlist import WaitlistOrder, draw_order
from dropline.services.ports import ManualClock
from dropline.store.db import alembic_config, upgrade_async
from support import seed_shop, sku_item

GOLD = frozenset({"gold"})
VISA = "4242424242424242"
#: the public window opens this long after gold's
LATER = 600


def at(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()[:-6] + "Z"


async def draw_public_first(c: Container, drop_id: str, sku: str, pub: str, gold: str) -> None:
    """Record the pre-queue's draw before the first pass, from a seed whose order puts
    the public buyer first (the job draws from a random seed; this fixes the case
    under test: the public buyer ahead of the gold one)."""
    seed = next(f"s{i}" for i in range(100) if draw_order([pub, gold], f"s{i}")[0] == pub)
    ids = draw_order([pub, gold], seed)
    async with c.uow() as uow:
        assert await uow.waitlist.record_draw(drop_id, sku, seed, ids)
        await uow.waitlist.set_ranks({entry_id: i for i, entry_id in enumerate(ids)})
        await uow.commit()


async def mine(c: Container, drop_id: str, buyer: str) -> dict[str, object]:
    [entry] = await c.waitlist.mine(drop_id, buyer)
    return entry


async def consistent(c: Container, drop_id: str, sku: str) -> tuple[int, int, int]:
    """(remaining, held, sold) after checking engine + ledger add up to the offer."""
    counts = (await c.engine.counts(drop_id))[sku]
    async with c.uow(readonly=True) as uow:
        offer = (await uow.drops.offers(drop_id))[sku]
    assert counts.remaining + counts.held + offer.sold == offer.offered
    return counts.remaining, counts.held, offer.sold


async def go_live(c: Container, drop_id: str) -> None:
    await c.drops.transition(drop_id, DropStatus.SCHEDULED)
    await c.drops.transition(drop_id, DropStatus.LIVE)


@pytest.mark.parametrize("order", list(WaitlistOrder))
async def test_the_pre_queue_is_served_as_each_buyers_window_opens(
    container: Container, clock: ManualClock, order: WaitlistOrder
) -> None:
    """Gold from T0 with both units, the public from T1. A public buyer joins the
    pre-queue first (drawn first, with ``draw``), then a gold buyer. The unit that
    comes back at T0+ goes to the gold buyer; the next one waits for the public buyer's
    window, and after T1 it is hers."""
    c = container
    shop = await seed_shop(c, units=2, live=False, ttl=30)
    drop_id, sku, t0 = shop.drop_id, shop.skus[0], clock.now()
    t1 = t0 + LATER
    await c.waitlist.configure(drop_id, order, 120)
    await c.access_windows.set_windows(
        drop_id,
        [AccessWindow(t0, ("gold",), {sku: 2}, "Gold"), AccessWindow(t1, (), None, "Everyone")],
    )
    pub, _ = await c.waitlist.join(drop_id, sku, "pub")
    gold, _ = await c.waitlist.join(drop_id, sku, "gold", tiers=GOLD)
    assert (pub["pre_queue"], gold["pre_queue"]) == (True, True)
    if order is WaitlistOrder.DRAW:
        await draw_public_first(c, drop_id, sku, pub["id"], gold["id"])
    await go_live(c, drop_id)
    taps = [await c.holds.place(drop_id, b, [sku_item(sku)], tiers=GOLD) for b in ("g1", "g2")]
    assert await c.waitlist_serving.serve_once() == 0  # nothing has come back yet

    # T0+: a unit comes back; the public buyer is first in line, her window is shut
    clock.advance(10)
    await c.holds.release(taps[0].id, "g1")
    with pytest.raises(e.SoldOut):
        await c.holds.place(drop_id, "g3", [sku_item(sku)], tiers=GOLD)
    assert await c.waitlist_serving.serve_once() == 1
    gold_now = await mine(c, drop_id, "gold")
    assert gold_now["status"] == "offered"
    waiting = await mine(c, drop_id, "pub")
    assert (waiting["status"], waiting["position"]) == ("waiting", 1)
    assert waiting["window_opens_at"] == at(t1)
    when = datetime.fromtimestamp(t1, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"Your access window opens at {when}" in str(waiting["message"])
    result = await c.checkout.start(str(gold_now["hold_id"]), "gold", VISA)
    assert result.order is not None

    # the second unit comes back before T1: nobody in line may have it yet, so it
    # waits for the line (neither the public buyer's claim nor a gold tapper takes it)
    await c.holds.release(taps[1].id, "g2")
    assert await c.waitlist_serving.serve_once() == 0
    assert (await mine(c, drop_id, "pub"))["status"] == "waiting"
    counts = (await c.engine.counts(drop_id))[sku]
    assert (counts.remaining, counts.held, counts.waitlist) == (1, 0, "latched")
    with pytest.raises(e.SoldOut):
        await c.holds.place(drop_id, "g3", [sku_item(sku)], tiers=GOLD)

    # T1: the public window opens; the next pass serves her
    clock.advance(t1 - clock.now())
    assert await c.waitlist_serving.serve_once() == 1
    served = await mine(c, drop_id, "pub")
    assert (served["status"], served["window_opens_at"]) == ("offered", None)
    assert (await mine(c, drop_id, "gold"))["status"] == "claimed"
    assert await consistent(c, drop_id, sku) == (0, 1, 1)
    [demand] = await c.waitlist_demand.demand(drop_id)
    assert (demand["joined"], demand["offered"], demand["claimed"]) == (2, 2, 1)
    assert (demand["waiting"], demand["skipped"], demand["unserved"]) == (0, 0, 1)


async def test_a_public_claim_never_takes_the_gold_windows_units(
    container: Container, clock: ManualClock, api: httpx.AsyncClient
) -> None:
    """Gold from T0 with the drop's one unit, the public from T1. The public buyer
    joined the pre-queue (through the API, with her token's tiers: none). The gold
    window's unit comes back: it stays the line's while only she waits (a claim for
    her would be the gold window entered early), the monitor counts it for the line,
    and her entry says when her window opens. A gold buyer who joins then gets it."""
    c = container
    shop = await seed_shop(c, units=1, live=False, ttl=30)
    drop_id, sku, t0 = shop.drop_id, shop.skus[0], clock.now()
    t1 = t0 + LATER
    await c.access_windows.set_windows(
        drop_id, [AccessWindow(t0, ("gold",), {sku: 1}, "Gold"), AccessWindow(t1)]
    )
    url = f"/v1/drops/{drop_id}/waitlist"
    pub_token = {"X-Buyer-Token": c.access.mint("pub")}
    gold_token = {"X-Buyer-Token": c.access.mint("gold", tiers=["gold"])}
    r = await api.post(url, json={"sku_id": sku}, headers=pub_token)
    assert r.status_code == 201
    await go_live(c, drop_id)
    tap = await c.holds.place(drop_id, "g1", [sku_item(sku)], tiers=GOLD)
    clock.advance(10)
    await c.holds.release(tap.id, "g1")

    assert await c.waitlist_serving.serve_once() == 0
    counts = (await c.engine.counts(drop_id))[sku]
    assert (counts.remaining, counts.held, counts.waitlist) == (1, 0, "latched")
    [entry] = (await api.get(url, headers=pub_token)).json()
    assert (entry["status"], entry["position"], entry["hold_id"]) == ("waiting", 1, None)
    assert entry["window_opens_at"] == at(t1)
    assert "access window opens at" in entry["message"]
    [row] = (await c.monitor.snapshot(drop_id))["skus"]
    assert (row["remaining"], row["for_waitlist"]) == (0, 1)
    [demand] = (await api.get(f"{url}/demand")).json()
    assert (demand["joined"], demand["waiting"], demand["offered"]) == (1, 1, 0)

    # a gold buyer may join (the unit is the line's) and is served first, although
    # she is behind the public buyer in line: the gold window is open for her
    r = await api.post(url, json={"sku_id": sku}, headers=gold_token)
    assert r.status_code == 201
    assert (r.json()["position"], r.json()["window_opens_at"]) == (1, None)
    assert r.json()["message"] == "You are number 1 in line."
    assert await c.waitlist_serving.serve_once() == 1
    [offered] = (await api.get(url, headers=gold_token)).json()
    assert offered["status"] == "offered" and offered["hold_id"]
    assert "A unit is held for you until" in offered["message"]
    [still] = (await api.get(url, headers=pub_token)).json()
    assert (still["status"], still["window_opens_at"]) == ("waiting", at(t1))
    assert await consistent(c, drop_id, sku) == (0, 1, 0)


async def test_an_entry_no_window_admits_any_more_is_skipped_with_a_note(
    container: Container, clock: ManualClock
) -> None:
    """The public buyer joined the pre-queue while a public window was planned; ops
    then made the drop members-only. Her entry can never be served, so the line skips
    it (saying why) instead of keeping the unit that comes back behind the gate for
    nobody: with nobody left in line, the unit goes on sale."""
    c = container
    shop = await seed_shop(c, units=1, live=False, ttl=30)
    drop_id, sku, t0 = shop.drop_id, shop.skus[0], clock.now()
    gold_window = AccessWindow(t0, ("gold",), None, "Gold")
    await c.access_windows.set_windows(drop_id, [gold_window, AccessWindow(t0 + LATER)])
    await c.waitlist.join(drop_id, sku, "pub")
    await c.access_windows.set_windows(drop_id, [gold_window])
    await go_live(c, drop_id)
    tap = await c.holds.place(drop_id, "g1", [sku_item(sku)], tiers=GOLD)
    waiting = await mine(c, drop_id, "pub")
    assert (waiting["position"], waiting["window_opens_at"]) == (None, None)
    assert "You will not be served" in str(waiting["message"])

    await c.holds.release(tap.id, "g1")
    assert await c.waitlist_serving.serve_once() == 0
    skipped = await mine(c, drop_id, "pub")
    assert skipped["status"] == "skipped"
    assert "no access window of this drop admits your tiers" in str(skipped["message"])
    assert (await c.engine.counts(drop_id))[sku].waitlist == ""
    await c.holds.place(drop_id, "g2", [sku_item(sku)], tiers=GOLD)
    [demand] = await c.waitlist_demand.demand(drop_id)
    assert (demand["skipped"], demand["waiting"], demand["unserved"]) == (1, 0, 1)


async def test_entries_from_before_the_migration_have_no_tiers(
    container: Container, database_url: str, clock: ManualClock
) -> None:
    """``0024_waitlist_tiers`` adds the column with ``""`` (no tiers): an entry that was
    in line before it is served as a public buyer's, from the public window."""
    c = container
    shop = await seed_shop(c, units=1, live=False, ttl=30)
    drop_id, sku, t0 = shop.drop_id, shop.skus[0], clock.now()
    await c.access_windows.set_windows(
        drop_id, [AccessWindow(t0, ("gold",)), AccessWindow(t0 + LATER)]
    )
    await c.waitlist.join(drop_id, sku, "old", tiers=GOLD)
    config = alembic_config(database_url)
    try:
        await asyncio.to_thread(command.downgrade, config, "0023_wave_reopen")
    finally:
        await upgrade_async(database_url)
    async with c.uow(readonly=True) as uow:
        row = await uow.waitlist.open_entry(drop_id, sku, "old")
    assert row is not None and row["tiers"] == ""
    assert (await mine(c, drop_id, "old"))["window_opens_at"] == at(t0 + LATER)


async def test_joining_again_with_a_newer_token_updates_the_tiers_and_keeps_the_place(
    container: Container, clock: ManualClock
) -> None:
    """A public buyer in the pre-queue becomes a gold member and joins again with her
    new token: she keeps her place, and the next unit of the gold window is hers."""
    c = container
    shop = await seed_shop(c, units=1, live=False, ttl=30)
    drop_id, sku, t0 = shop.drop_id, shop.skus[0], clock.now()
    await c.access_windows.set_windows(
        drop_id,
        [
            AccessWindow(t0, ("gold",), {sku: 1}, "Gold"),
            AccessWindow(t0 + LATER, (), None, "Everyone"),
        ],
    )
    first, added = await c.waitlist.join(drop_id, sku, "pub")
    assert added
    assert (await mine(c, drop_id, "pub"))["window_opens_at"] == at(t0 + LATER)
    again, added = await c.waitlist.join(drop_id, sku, "pub", tiers=GOLD)
    assert (again["id"], added) == (first["id"], False)
    assert again["window_opens_at"] is None  # gold's window: open from T0
    await go_live(c, drop_id)
    tap = await c.holds.place(drop_id, "g1", [sku_item(sku)], tiers=GOLD)
    clock.advance(10)
    await c.holds.release(tap.id, "g1")
    assert await c.waitlist_serving.serve_once() == 1
    assert (await mine(c, drop_id, "pub"))["status"] == "offered"


async def wave_line(c: Container, clock: ManualClock) -> tuple[str, str, float]:
    """One unit, gold from T0 with it, the public from T1. A public buyer waits in the
    pre-queue; live, g1 buys the unit and a gold buyer joins the sold-out line. Three
    more units are received. Returns (drop id, SKU id, T1)."""
    shop = await seed_shop(c, units=1, live=False, ttl=30)
    drop_id, sku, t0 = shop.drop_id, shop.skus[0], clock.now()
    await c.access_windows.set_windows(
        drop_id,
        [AccessWindow(t0, ("gold",), {sku: 1}, "Gold"), AccessWindow(t0 + LATER, (), None)],
    )
    await c.waitlist.join(drop_id, sku, "pub")
    await go_live(c, drop_id)
    hold = await c.holds.place(drop_id, "g1", [sku_item(sku)], tiers=GOLD)
    assert (await c.checkout.start(hold.id, "g1", VISA)).order is not None
    await c.waitlist.join(drop_id, sku, "gold", tiers=GOLD)
    await c.stock.receive(sku, 3)
    clock.advance(10)
    return drop_id, sku, t0 + LATER


WAVE_FIGURES = ("waitlisted", "for_waitlist", "on_sale", "back_in_stock")


def figures(wave: dict[str, object]) -> tuple[object, ...]:
    return tuple(wave[k] for k in WAVE_FIGURES)


async def test_a_waves_units_kept_for_a_later_window_are_not_on_sale(
    container: Container, clock: ManualClock, api: httpx.AsyncClient
) -> None:
    """A wave of 3 in the gold window: the gold buyer in line gets a claim, the public
    buyer ahead of her is passed over, so the other 2 units stay behind the gate for
    her (a gold tapper is refused): kept for the waitlist, not on sale. The API, the
    monitor and the report (JSON, CSV, HTML, terminal) say so. At T1 she gets one and
    the line is empty: the last unit goes on sale, and the wave says so then."""
    from rich.console import Console

    from dropline.cli.insight.report_audience import print_audience
    from dropline.web.render import report_csv, report_html

    c = container
    drop_id, sku, t1 = await wave_line(c, clock)
    wave = await c.restocks.schedule(drop_id, sku, 3)
    assert await c.restocks.run_once() == [wave["id"]]
    assert (await mine(c, drop_id, "gold"))["status"] == "offered"
    assert (await mine(c, drop_id, "pub"))["status"] == "waiting"
    with pytest.raises(e.SoldOut):
        await c.holds.place(drop_id, "g2", [sku_item(sku)], tiers=GOLD)
    [shown] = (await api.get(f"/v1/drops/{drop_id}/restocks")).json()
    assert (shown["status"], shown["waitlisted"], shown["on_sale"]) == ("done", 1, 0)
    assert figures(shown) == (1, 2, 0, 0)
    [row] = (await c.monitor.snapshot(drop_id))["skus"]
    assert row["for_waitlist"] == 2
    assert [figures(w) for w in (await c.monitor.snapshot(drop_id))["restocks"]] == [(1, 2, 0, 0)]
    report = await c.reports.build(drop_id)
    assert [figures(w) for w in report["restocks"]] == [(1, 2, 0, 0)]
    csv_text = report_csv(report)
    for k, n in zip(WAVE_FIGURES, (1, 2, 0, 0), strict=True):
        assert f"restocks,{wave['id']},{k},{n}\r\n" in csv_text
    assert "Kept for waitlist" in report_html(report)
    out = Console(record=True, width=200)
    print_audience(report, out)
    assert "for waitlist" in out.export_text()

    # T1: the public buyer's window opens; her claim takes a kept unit, the line is
    # empty, so the gate opens and the last one is on sale
    clock.advance(t1 - clock.now())
    assert await c.waitlist_serving.serve_once() == 1
    assert (await mine(c, drop_id, "pub"))["status"] == "offered"
    [after] = await c.restocks.waves(drop_id)
    assert figures(after) == (2, 0, 1, 0)
    await c.holds.place(drop_id, "fan", [sku_item(sku)])
    assert await consistent(c, drop_id, sku) == (0, 3, 1)


async def test_units_kept_for_the_line_at_the_end_go_back_to_stock(
    container: Container, clock: ManualClock
) -> None:
    """The wave of 3 keeps 2 for the public buyer when the drop ends: they go back to
    stock with the rest (``back_in_stock``), never on sale. A second wave of 1 reopens
    the drop; the public buyer's claim at T1 takes that wave's unit, not the first
    wave's, whose units are gone."""
    c = container
    drop_id, sku, t1 = await wave_line(c, clock)
    first = await c.restocks.schedule(drop_id, sku, 3)
    await c.restocks.run_once()
    await c.drops.transition(drop_id, DropStatus.ENDED)
    [ended] = await c.restocks.waves(drop_id)
    assert figures(ended) == (1, 0, 0, 2)
    await c.stock.receive(sku, 1)
    second = await c.restocks.schedule(drop_id, sku, 1)
    assert second["reopens"] is True
    assert await c.restocks.run_once() == [second["id"]]
    assert (await mine(c, drop_id, "pub"))["status"] == "waiting"
    clock.advance(t1 - clock.now())
    assert await c.waitlist_serving.serve_once() == 1
    assert (await mine(c, drop_id, "pub"))["status"] == "offered"
    waves = {w["id"]: figures(w) for w in await c.restocks.waves(drop_id)}
    assert waves == {first["id"]: (1, 0, 0, 2), second["id"]: (1, 0, 0, 0)}

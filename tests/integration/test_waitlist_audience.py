"""The waitlist under a drop's access rules, through the services on both backend
profiles (SQLite with the in-process engine, PostgreSQL with Redis): the line is for
buyers the windows admit; a buyer whose window's allocation is taken may join, and the
units a later window releases go to the line before they go on sale; a claim is not
refused by the token age or the rate limits (the waitlist places it, not a tap)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from backends import REDIS_URL
from dropline.bootstrap import Container
from dropline.domain import errors as e
from dropline.domain.live.access import AccessWindow
from dropline.domain.live.drops import DropStatus
from dropline.domain.live.rate_limits import RateLimits
from dropline.engine.redis_engine import RedisEngine
from dropline.services.live.hold_journal import drain_hold_events
from dropline.services.live.public_view import public_drop
from dropline.services.ports import ManualClock
from prod_support import lose_redis_data
from support import seed_shop, sku_item

GOLD = frozenset({"gold"})
VISA = "4242424242424242"


def at(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()[:-6] + "Z"


async def test_claims_pass_the_token_age_and_rate_limits(
    container: Container, clock: ManualClock
) -> None:
    c = container
    shop = await seed_shop(c, units=1, ttl=30)
    sku, now = shop.skus[0], clock.now()
    await c.access_windows.set_windows(shop.drop_id, [AccessWindow(now - 10, ("gold",))])
    await c.access_windows.set_limits(
        shop.drop_id, RateLimits(holds_per_buyer=1, token_max_age_s=900)
    )
    early = await c.holds.place(shop.drop_id, "g", [sku_item(sku)], tiers=GOLD, issued_at=now)
    # a buyer no window admits is not in this line
    with pytest.raises(e.WindowClosed) as nobody:
        await c.waitlist.join(shop.drop_id, sku, "fan")
    assert nobody.value.extra["opens_at"] is None
    await c.waitlist.join(shop.drop_id, sku, "ann", tiers=GOLD)
    # ann has used her one hold a minute on a refused tap; the claim is no tap of hers
    with pytest.raises(e.SoldOut):
        await c.holds.place(shop.drop_id, "ann", [sku_item(sku)], tiers=GOLD, issued_at=now)
    await c.holds.release(early.id, "g")
    assert await c.waitlist_serving.serve_once() == 1
    [mine] = await c.waitlist.mine(shop.drop_id, "ann")
    assert mine["status"] == "offered"
    assert (await c.engine.counts(shop.drop_id))[sku].remaining == 0


async def test_a_later_windows_units_go_to_the_line_first(
    container: Container, clock: ManualClock
) -> None:
    c = container
    shop = await seed_shop(c, units=4, ttl=30)
    sku, drop_id, now = shop.skus[0], shop.drop_id, clock.now()
    await c.access_windows.set_windows(
        drop_id,
        [
            AccessWindow(now - 10, ("gold",), {sku: 2}, "Gold"),
            AccessWindow(now + 60, (), None, "Everyone"),
        ],
    )
    # before the public window opens the public may not join
    with pytest.raises(e.WindowClosed) as early:
        await c.waitlist.join(drop_id, sku, "fan")
    assert early.value.extra["opens_at"] is not None
    # gold's 2 are taken: a third gold member is refused by the window, so may join
    for buyer in ("g1", "g2"):
        await c.holds.place(drop_id, buyer, [sku_item(sku)], tiers=GOLD)
    with pytest.raises(e.WindowSoldOut):
        await c.holds.place(drop_id, "g3", [sku_item(sku)], tiers=GOLD)
    entry, added = await c.waitlist.join(drop_id, sku, "g3", tiers=GOLD)
    assert added and entry["position"] == 1
    assert (await c.engine.counts(drop_id))[sku].waitlist == "latched"
    # nothing to offer while the window's allocation is taken: the line waits
    assert await c.waitlist_serving.serve_once() == 0
    assert (await c.waitlist.mine(drop_id, "g3"))[0]["status"] == "waiting"
    # the public window opens with the 2 units gold could not have: the line first
    clock.advance(61)
    with pytest.raises(e.SoldOut):
        await c.holds.place(drop_id, "fan", [sku_item(sku)])
    assert await c.waitlist_serving.serve_once() == 1
    assert (await c.waitlist.mine(drop_id, "g3"))[0]["status"] == "offered"
    # the line is empty: the last unit is on sale
    await c.holds.place(drop_id, "fan", [sku_item(sku)])
    counts = (await c.engine.counts(drop_id))[sku]
    assert (counts.remaining, counts.held, counts.waitlist) == (0, 4, "")


async def test_a_rebuilt_engine_keeps_the_units_for_the_line(container: Container) -> None:
    """The engine loses the drop (Redis flushed, a process restarted): the rebuild
    restores the latched gate from the ledger, so the unit the lost hold gives back is
    the line's from the first tap, before the waitlist job passes again."""
    c = container
    shop = await seed_shop(c, units=1, ttl=30)
    sku, drop_id = shop.skus[0], shop.drop_id
    await c.holds.place(drop_id, "early", [sku_item(sku)])
    await c.waitlist.join(drop_id, sku, "ann")
    if isinstance(c.engine, RedisEngine):
        assert await lose_redis_data(REDIS_URL, "dl") > 0
    else:
        await c.engine.forget_drop(drop_id)
    with pytest.raises(e.SoldOut):
        await c.holds.place(drop_id, "tapper", [sku_item(sku)])
    counts = (await c.engine.counts(drop_id))[sku]
    assert (counts.remaining, counts.waitlist) == (1, "latched")
    assert await c.waitlist_serving.serve_once() == 1
    assert (await c.waitlist.mine(drop_id, "ann"))[0]["status"] == "offered"
    # a pre-queue that has not seen the sell-out is armed, not latched
    other = await seed_shop(c, units=2, live=False)
    await c.waitlist.join(other.drop_id, other.skus[0], "bo")
    await c.drops.transition(other.drop_id, DropStatus.SCHEDULED)
    await c.drops.transition(other.drop_id, DropStatus.LIVE, override_reason="test")
    assert (await c.engine.counts(other.drop_id))[other.skus[0]].waitlist == "armed"


async def test_a_restock_goes_to_the_window_open_at_its_time(
    container: Container, clock: ManualClock
) -> None:
    """Gold's window allocates all 2 units; a wave of 3 while it is open adds 3 to its
    allocation: the gold member in line gets a claim, the other 2 are on sale to gold
    at once (not kept back for a later window that allocates nothing)."""
    c = container
    shop = await seed_shop(c, units=2, ttl=30)
    sku, drop_id, now = shop.skus[0], shop.drop_id, clock.now()
    await c.access_windows.set_windows(
        drop_id,
        [
            AccessWindow(now - 10, ("gold",), {sku: 2}, "Gold"),
            AccessWindow(now + 600, ("*",), {}, "Members"),
        ],
    )
    for buyer in ("g1", "g2"):
        await c.holds.place(drop_id, buyer, [sku_item(sku)], tiers=GOLD)
    await c.waitlist.join(drop_id, sku, "g3", tiers=GOLD)
    await c.stock.receive(sku, 3)
    wave = await c.restocks.schedule(drop_id, sku, 3)
    assert await c.restocks.run_once() == [wave["id"]]
    [done] = await c.restocks.waves(drop_id)
    assert (done["status"], done["waitlisted"], done["on_sale"]) == ("done", 1, 2)
    gold = (await c.access_windows.get(drop_id)).windows[0]
    assert gold.allocation == {sku: 5}
    assert (await c.waitlist.mine(drop_id, "g3"))[0]["status"] == "offered"
    await c.holds.place(drop_id, "g4", [sku_item(sku, 2)], tiers=GOLD)
    with pytest.raises(e.SoldOut):
        await c.holds.place(drop_id, "g5", [sku_item(sku)], tiers=GOLD)
    # a wave while no window has opened yet goes to the first window
    later = await seed_shop(c, units=1, ttl=30)
    await c.access_windows.set_windows(
        later.drop_id, [AccessWindow(now + 60, ("gold",), {later.skus[0]: 1})]
    )
    await c.stock.receive(later.skus[0], 1)
    await c.restocks.schedule(later.drop_id, later.skus[0], 1)
    await c.restocks.run_once()
    [first] = (await c.access_windows.get(later.drop_id)).windows
    assert first.allocation == {later.skus[0]: 2}


async def test_report_monitor_and_overlay_show_the_windows(
    container: Container, clock: ManualClock
) -> None:
    """Gold (3 units) sells 2 and passes 1 on; Members (1 more) has 2, sells 1 and
    passes 1 on to Everyone. The report (JSON, CSV, HTML, the CLI's tables) shows each
    window's figures; the monitor, the overlay stream's body and the public view show
    the window open now and the next one's opening."""
    from rich.console import Console

    from dropline.cli.insight.report_audience import print_audience
    from dropline.web.render import report_csv, report_html

    c = container
    shop = await seed_shop(c, units=5, ttl=30)
    sku, drop_id, t0 = shop.skus[0], shop.drop_id, clock.now()
    await c.access_windows.set_windows(
        drop_id,
        [
            AccessWindow(t0 - 10, ("gold",), {sku: 3}, "Gold"),
            AccessWindow(t0 + 60, ("*",), {sku: 1}, "Members"),
            AccessWindow(t0 + 120, (), None, "Everyone"),
        ],
    )
    for buyer in ("g1", "g2"):
        hold = await c.holds.place(drop_id, buyer, [sku_item(sku)], tiers=GOLD)
        assert (await c.checkout.start(hold.id, buyer, VISA)).order is not None
    clock.advance(61)
    monitor = await c.monitor.snapshot(drop_id)
    overlay = await c.monitor.public(drop_id)
    for access in (monitor["access"], overlay["access"]):
        assert access["current_window"]["name"] == "Members"
        assert access["next_window"]["name"] == "Everyone"
        assert access["next_window_at"][:19] == at(t0 + 120)[:19]
    public = await c.access_windows.public(drop_id)
    assert public["current_window"] == 1
    assert [w["current"] for w in public["windows"]] == [False, True, False]
    hold = await c.holds.place(drop_id, "m1", [sku_item(sku)], tiers=frozenset({"silver"}))
    assert (await c.checkout.start(hold.id, "m1", VISA)).order is not None
    clock.advance(60)
    await c.stock.receive(sku, 1)
    wave = await c.restocks.schedule(drop_id, sku, 1)
    await c.restocks.run_once()

    report = await c.reports.build(drop_id)
    [shown] = report["restocks"]
    assert (shown["id"], shown["waitlisted"], shown["on_sale"]) == (wave["id"], 0, 1)
    access = report["access"]
    assert access["current_window"]["name"] == "Everyone" and access["next_window"] is None
    figures = [
        [(s["allocated"], s["carried_in"], s["sold"], s["leftovers"]) for s in w["skus"]]
        for w in access["windows"]
    ]
    assert figures == [[(3, 0, 2, 1)], [(1, 1, 1, 1)], [(None, 1, 0, None)]]
    assert [w["leftovers"] for w in access["windows"]] == [1, 1, None]
    csv_text = report_csv(report)
    assert f"access_windows,Gold {sku},leftovers,1" in csv_text
    assert f"restocks,{wave['id']},on_sale,1" in csv_text
    html = report_html(report)
    assert "Leftovers passed on" in html and "Put on sale" in html and "Members" in html
    out = Console(record=True, width=200)
    print_audience(report, out)
    text = out.export_text()
    assert "Access windows" in text and "Gold" in text and "Everyone" in text
    assert "Restock waves" in text and wave["id"] in text


async def test_a_unit_held_in_gold_and_paid_after_the_next_window_opened_is_golds(
    container: Container, clock: ManualClock
) -> None:
    """Gold allocates 2: g1 holds and pays at once, g2 holds a second before Everyone
    opens and pays two seconds after it did. The engine charged gold's allocation at
    g2's hold, so the report counts the unit in Gold (2 sold, nothing passed on), not
    in Everyone (which sold p1's unit only and carried nothing in)."""
    c = container
    shop = await seed_shop(c, units=5, ttl=30)
    sku, drop_id, t0 = shop.skus[0], shop.drop_id, clock.now()
    await c.access_windows.set_windows(
        drop_id,
        [
            AccessWindow(t0 - 10, ("gold",), {sku: 2}, "Gold"),
            AccessWindow(t0 + 60, (), None, "Everyone"),
        ],
    )
    g1 = await c.holds.place(drop_id, "g1", [sku_item(sku)], tiers=GOLD)
    assert (await c.checkout.start(g1.id, "g1", VISA)).order is not None
    clock.advance(59)
    g2 = await c.holds.place(drop_id, "g2", [sku_item(sku)], tiers=GOLD)
    clock.advance(3)
    paid = (await c.checkout.start(g2.id, "g2", VISA)).order
    assert paid is not None and paid.paid_at.timestamp() >= t0 + 60
    p1 = await c.holds.place(drop_id, "p1", [sku_item(sku)])
    assert (await c.checkout.start(p1.id, "p1", VISA)).order is not None
    await drain_hold_events(c.engine, c.uow)

    access = (await c.reports.build(drop_id))["access"]
    figures = [
        [(s["allocated"], s["carried_in"], s["sold"], s["leftovers"]) for s in w["skus"]]
        for w in access["windows"]
    ]
    assert figures == [[(2, 0, 2, 0)], [(None, 0, 1, None)]]
    assert [w["sold"] for w in access["windows"]] == [2, 1]


async def test_a_line_on_window_sold_out_shows_more_at_the_next_window_not_sold_out(
    container: Container, api: httpx.AsyncClient, clock: ManualClock
) -> None:
    """Gold's 2 of 4 are taken and g3 joins the line on ``window_sold_out``: the gate
    latches, but Everyone releases the other 2 at t0+60. The public view, the overlay
    and the monitor say "window allocation taken — more at" that time, with no
    sold-out alert or cue; once Everyone opens and the line has its claim, the last
    unit is on sale."""
    c = container
    shop = await seed_shop(c, units=4, ttl=30)
    sku, drop_id, t0 = shop.skus[0], shop.drop_id, clock.now()
    await c.access_windows.set_windows(
        drop_id,
        [
            AccessWindow(t0 - 10, ("gold",), {sku: 2}, "Gold"),
            AccessWindow(t0 + 60, (), None, "Everyone"),
        ],
    )
    for buyer in ("g1", "g2"):
        await c.holds.place(drop_id, buyer, [sku_item(sku)], tiers=GOLD)
    with pytest.raises(e.WindowSoldOut):
        await c.holds.place(drop_id, "g3", [sku_item(sku)], tiers=GOLD)
    await c.waitlist.join(drop_id, sku, "g3", tiers=GOLD)
    assert (await c.engine.counts(drop_id))[sku].waitlist == "latched"

    r = await api.get(f"/v1/drops/{drop_id}/public")
    assert r.status_code == 200, r.text
    [shown] = [s for p in r.json()["products"] for s in p["skus"] if s["id"] == sku]
    assert (shown["availability"], shown["sold_out"], shown["remaining"]) == (
        "window_allocation_taken",
        False,
        0,
    )
    assert shown["more_at"][:19] == at(t0 + 60)[:19]
    [overlay] = (await c.monitor.public(drop_id))["skus"]
    assert overlay["state"] == "window_allocation_taken"
    assert overlay["more_at"][:19] == at(t0 + 60)[:19]
    snap = await c.monitor.snapshot(drop_id)
    [row] = snap["skus"]
    assert row["state"] == "window_allocation_taken" and row["for_waitlist"] == 2
    assert row["state_text"].startswith("window allocation taken — more at ")
    assert [a["kind"] for a in snap["alerts"] if a["sku_id"] == sku] == ["window_allocation_taken"]
    assert [x for x in snap["cues"] if "more at" in x] and not [
        x for x in snap["cues"] if "sold out" in x
    ]

    clock.advance(61)
    assert await c.waitlist_serving.serve_once() == 1
    view = await public_drop(c.engine, c.drops, c.drops.cache, drop_id)
    [shown] = view["products"][0]["skus"]
    assert (shown["availability"], shown["remaining"], shown["more_at"]) == ("on_sale", 1, None)

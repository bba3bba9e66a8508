"""The live monitor as the ops lead reads it, on both backends: revenue, the clock
(countdown before the start, elapsed time once live), a per-minute velocity series,
projected sell-out per SKU, bundle availability, sizes in wearing order, product names
in every cue; and an honest ended state (final numbers: nothing "sold out", no stream,
no Pause buttons)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import httpx
import pytest

from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.domain.live.drops import DropStatus
from dropline.services.insight.monitor_snapshot import drop_timing, minute_buckets, sellout_eta_s
from dropline.services.ports import ManualClock
from dropline.web.velocity import CHARTS
from fulfilment_support import VISA
from support import sku_item, unique_suffix

SVG = "{http://www.w3.org/2000/svg}"


async def _hoodie_drop(c: Container, starts_in_s: float) -> tuple[str, dict[str, str], str]:
    product = await c.catalog.create_product("Logo Hoodie")
    suffix = unique_suffix()
    skus = {}
    for size in ("XL", "M", "S", "L"):
        sku = await c.catalog.create_sku(
            product.id, f"HD-{size}-{suffix}", 6000, "USD", {"colour": "Black", "size": size}
        )
        await c.stock.receive(sku.id, 20)
        skus[size] = sku.id
    bundle = await c.catalog.create_bundle(
        f"PAIR-{suffix}", "S + M pair", 11000, "USD", [(skus["S"], 1), (skus["M"], 2)]
    )
    drop = await c.drops.create("Hoodies", "USD", starts_at=c.clock.now() + starts_in_s)
    for size, sku_id in skus.items():
        await c.drops.set_offer(drop.id, sku_id, 10 if size != "M" else 4)
    await c.drops.add_bundle(drop.id, bundle.id)
    return drop.id, skus, bundle.id


async def test_countdown_then_live_numbers(container: Container, clock: ManualClock) -> None:
    c = container
    drop_id, skus, bundle_id = await _hoodie_drop(c, starts_in_s=3600)
    before = await c.monitor.snapshot(drop_id)
    assert before["timing"] == {"phase": "before", "seconds": 3600}
    assert [r["label"] for r in before["skus"]] == [
        "Black / S", "Black / M", "Black / L", "Black / XL",
    ]  # fmt: skip
    await c.drops.transition(drop_id, DropStatus.SCHEDULED)
    await c.drops.transition(drop_id, DropStatus.LIVE)
    clock.advance(90)
    for buyer in ("a", "b"):
        h = await c.holds.place(drop_id, buyer, [sku_item(skus["M"], 1)])
        await c.checkout.start(h.id, buyer, VISA)
    h = await c.holds.place(drop_id, "c", [sku_item(skus["L"], 1)])
    await c.checkout.start(h.id, "c", VISA)
    snap = await c.monitor.snapshot(drop_id)
    assert snap["timing"] == {"phase": "live", "seconds": 90}
    assert snap["totals"]["revenue"] == 18000
    assert snap["totals"]["revenue_text"] == "USD 180.00"
    rows = {r["label"]: r for r in snap["skus"]}
    assert rows["Black / M"]["name"] == "Logo Hoodie — Black / M"
    # 2 sold in the last 5 minutes: 0.4 a minute, so the 2 left last 5 minutes.
    assert (rows["Black / M"]["remaining"], rows["Black / M"]["velocity_5m"]) == (2, 0.4)
    assert rows["Black / M"]["sellout_eta_s"] == 300
    assert rows["Black / S"]["sellout_eta_s"] is None  # nothing selling: no projection
    assert snap["velocity"]["bucket_s"] == 60 and len(snap["velocity"]["points"]) == 15
    assert sum(p["units"] for p in snap["velocity"]["points"]) == 3
    [b] = snap["bundles"]
    assert (b["bundle_id"], b["name"], b["price"]) == (bundle_id, "S + M pair", "USD 110.00")
    assert sorted((x["name"], x["quantity"]) for x in b["components"]) == [
        ("Logo Hoodie — Black / M", 2), ("Logo Hoodie — Black / S", 1),
    ]  # fmt: skip
    assert b["available"] == 1  # 2 M left, 2 per bundle
    # Paused and resumed: the clock counts from when it first went live.
    await c.drops.transition(drop_id, DropStatus.PAUSED)
    await c.drops.transition(drop_id, DropStatus.LIVE)
    clock.advance(30)
    assert (await c.monitor.snapshot(drop_id))["timing"]["seconds"] == 120


async def test_an_ended_drop_shows_final_numbers(container: Container, clock: ManualClock) -> None:
    c = container
    drop_id, skus, _ = await _hoodie_drop(c, starts_in_s=60)
    await c.drops.transition(drop_id, DropStatus.SCHEDULED)  # a start ahead, then its time
    clock.advance(60)
    await c.drops.transition(drop_id, DropStatus.LIVE)
    h = await c.holds.place(drop_id, "a", [sku_item(skus["S"], 2)])
    await c.checkout.start(h.id, "a", VISA)
    clock.advance(600)
    await c.drops.transition(drop_id, DropStatus.ENDED)
    snap = await c.monitor.snapshot(drop_id)
    assert snap["timing"] == {"phase": "ended", "seconds": 600}
    assert {r["state"] for r in snap["skus"]} == {"ended"}
    assert not any(a["kind"] == "sold_out" for a in snap["alerts"])
    assert snap["cues"] == []
    assert snap["totals"]["unsold"] == 32 and snap["totals"]["sold"] == 2
    assert all(not r["paused"] and r["sellout_eta_s"] is None for r in snap["skus"])

    app = create_app(container=c)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            key, _ = await c.access.create_key("ops", "ops")
            form = await http.get("/ui/login")
            token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
            await http.post("/ui/login", data={"api_key": key, "csrf_token": token})
            page = (await http.get(f"/ui/drops/{drop_id}")).text
    assert "<strong>Ended</strong>" in page and "after 10 min 00 s live" in page
    assert "sku-toggle" not in page and 'id="live-state"' not in page
    assert "data-events" not in page and "sold out" not in page.lower()
    # it only watches the stream, for the drop going live again (a restock wave)
    assert f'data-watch="/ui/drops/{drop_id}/events"' in page
    assert 'id="drop-ended"' not in page and "Back in stock" in page


def test_clock_projection_and_buckets() -> None:
    now = datetime(2026, 12, 12, 20, 30, 30, tzinfo=UTC)
    live = now - timedelta(minutes=30)
    assert drop_timing("live", now, None, live, None) == {"phase": "live", "seconds": 1800}
    assert drop_timing("draft", now, None, None, None) == {"phase": "before", "seconds": None}
    assert drop_timing("scheduled", now, now + timedelta(hours=2), None, None)["seconds"] == 7200
    assert drop_timing("ended", now, None, None, now) == {"phase": "ended", "seconds": None}
    assert sellout_eta_s(12, 4.0) == 180 and sellout_eta_s(0, 4.0) is None
    assert sellout_eta_s(5, 0) is None
    points = minute_buckets(
        [(now - timedelta(seconds=20), 2), (now - timedelta(minutes=3), 1),
         (now - timedelta(minutes=20), 9)],
        now, 5,
    )  # fmt: skip
    assert [p["units"] for p in points] == [0, 1, 0, 0, 2]
    assert points[-1]["t"] == "2026-12-12T20:30:00Z"


async def test_velocity_chart_is_drawn_on_the_server_and_cached(
    container: Container, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``GET /ui/drops/{id}/monitor/velocity.svg``: an SVG document with one bar per
    minute that sold, labelled in UTC; redrawn at most every 5 s and only on a change."""
    c = container
    drop_id, skus, _ = await _hoodie_drop(c, starts_in_s=60)
    await c.drops.transition(drop_id, DropStatus.SCHEDULED)
    clock.advance(60)
    await c.drops.transition(drop_id, DropStatus.LIVE)
    for buyer, size, n in (("a", "S", 2), ("b", "L", 1)):
        h = await c.holds.place(drop_id, buyer, [sku_item(skus[size], n)])
        await c.checkout.start(h.id, buyer, VISA)
        clock.advance(60)  # the next sale falls in the next minute
    mono = [1000.0]
    monkeypatch.setattr(CHARTS, "clock", lambda: mono[0])

    app = create_app(container=c)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            url = f"/ui/drops/{drop_id}/monitor/velocity.svg"
            assert (await http.get(url)).status_code == 401  # the monitor's login
            key, _ = await c.access.create_key("ops", "ops")
            form = await http.get("/ui/login")
            token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
            await http.post("/ui/login", data={"api_key": key, "csrf_token": token})
            before = CHARTS.renders
            page = await http.get(f"/ui/drops/{drop_id}")  # the page inlines the chart
            assert 'id="velocity-box"' in page.text and 'id="velocity-chart"' in page.text
            r = await http.get(url)
            assert r.status_code == 200
            assert r.headers["content-type"] == "image/svg+xml"
            svg = ElementTree.fromstring(r.text)
            assert svg.get("id") == "velocity-chart" and svg.get("data-total") == "3"
            assert svg.findtext(f"{SVG}title") == "Units sold per minute (UTC)"
            bars = svg.findall(f".//{SVG}g[@class='chart-bar']")
            assert [(b.get("data-units"), b.findtext(f"{SVG}title")) for b in bars] == [
                ("2", f"{_minute(clock, -2)} UTC: 2 units"),
                ("1", f"{_minute(clock, -1)} UTC: 1 units"),
            ]
            assert "Time (UTC)" in r.text
            assert CHARTS.renders == before + 1  # page and image: one render

            # A sale within 5 s: the cached chart, no render.
            h = await c.holds.place(drop_id, "c", [sku_item(skus["XL"], 4)])
            await c.checkout.start(h.id, "c", VISA)
            await asyncio.sleep(0.5)  # past the shared snapshot's 0.4 s
            mono[0] += 4.9
            again = await http.get(url)
            assert again.text == r.text and CHARTS.renders == before + 1
            # 5 s on: drawn again, with the sale.
            mono[0] += 0.2
            fresh = ElementTree.fromstring((await http.get(url)).text)
            assert fresh.get("data-total") == "7" and CHARTS.renders == before + 2
            # Nothing changed for another 5 s: still no new render.
            mono[0] += 6
            assert (await http.get(url)).status_code == 200
            assert CHARTS.renders == before + 2


def _minute(clock: ManualClock, minutes: int) -> str:
    at = datetime.fromtimestamp(clock.now(), UTC) + timedelta(minutes=minutes)
    return at.strftime("%H:%M")

"""The funnel (views → held → paid), unserved demand after sell-out and the host cue
timeline with lift, on both backend profiles, against a hand-computed fixture. The
drop offers 2 units each of S0 and S1 and goes live at t0; it ends at t0+300 s.

- views (the overlay's batches): the drop 10 on live, 5 on social, then 5 more on
  live (a batch sent twice with one Idempotency-Key: counted once) → 20 (live 15,
  social 5); S0 8 (live), S1 4 (no channel).
- t0+60 ann holds and pays 1 S0 (live); t0+120 bob holds and pays 1 S0 (live):
  S0 sold out 120 s in. t0+130 cat taps 2 S0 and 1 S0, dan taps 2 S0: three refused
  taps, two refused buyers, unserved units 2 (cat's first) + 2 (dan) = 4.
  t0+140 cat holds 1 S1 (social) and releases it; t0+200 ann holds and pays 1 S1.
- funnel: drop 20 views, held {ann, bob, cat} 3, paid {ann, bob} 2: hold rate
  3/20 = 1500 bp, pay rate 2/3 = 6666 bp, view-to-paid 2/20 = 1000 bp.
  S0: 8, 2, 2 → 2500, 10000, 2500. S1: 4, {cat, ann} 2, {ann} 1 → 5000, 5000, 2500.
  Channels: live 15 views, {ann, bob} held and paid → 1333, 10000, 1333; social 5
  views, cat held, none paid → 2000, 0, 0; (none) 0 views, ann held and paid (her S1
  hold had no channel) → none, 10000, none.
- corrected demand of S0: max(2 × 300 / 120 = 5, sold 2 + unserved 4 = 6) = 6; S1: 1.
- cues (window 60 s): t0+50 pin S0: before [0, 50) 0 units (0.0/min), after [50, 110)
  ann's S0 at 60 → 1.0/min, lift +1.0. t0+250 "last call" on the drop: before
  [190, 250) ann's S1 at 200 → 1.0/min, after [250, 300) (clipped at the end, 50 s)
  0 → 0.0, lift −1.0.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.cli.app import app
from dropline.domain.errors import SoldOut
from dropline.domain.live.drops import DropStatus
from dropline.services.live.hold_journal import drain_hold_events
from dropline.services.ports import ManualClock
from preorders_support import VISA
from support import seed_shop, sku_item


async def buy(c: Container, drop_id: str, buyer: str, sku: str, channel: str | None) -> None:
    attribution = {"channel": channel} if channel else None
    hold = await c.holds.place(drop_id, buyer, [sku_item(sku, 1)], attribution=attribution)
    assert (await c.checkout.start(hold.id, buyer, VISA)).order is not None


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def store(container: Container) -> dict[str, str]:
    key, _ = await container.access.create_key("overlay", "storefront")
    return {"Authorization": f"Bearer {key}"}


async def test_funnel_unserved_and_cue_lift(
    container: Container, api: httpx.AsyncClient, clock: ManualClock, store: dict[str, str]
) -> None:
    c = container
    t0 = clock.now()
    shop = await seed_shop(c, units=2, skus=2)
    d = shop.drop_id
    s0, s1 = shop.skus
    views = f"/v1/drops/{d}/views"
    first = [
        {"views": 10, "channel": "live"},
        {"views": 5, "channel": "social"},
        {"sku_id": s0, "views": 8, "channel": "live"},
        {"sku_id": s1, "views": 4},
    ]
    r = await api.post(views, json={"counts": first}, headers=store)
    assert r.status_code == 202 and r.json() == {"drop_id": d, "views": 27}, r.text
    again = store | {"Idempotency-Key": "batch-2"}
    for _ in range(2):  # a retried batch is counted once
        r = await api.post(views, json={"counts": [{"views": 5, "channel": "live"}]}, headers=again)
        assert r.status_code == 202, r.text

    clock.advance(50)
    cue = await api.post(
        f"/v1/drops/{d}/cues", json={"kind": "pin", "sku_id": s0, "text": "Pinned the tee"}
    )
    assert cue.status_code == 201, cue.text
    assert cue.json()["at"] == iso(t0 + 50)
    clock.advance(10)
    await buy(c, d, "ann", s0, "live")
    clock.advance(60)
    await buy(c, d, "bob", s0, "live")
    clock.advance(10)
    for buyer, qty in (("cat", 2), ("cat", 1), ("dan", 2)):
        with pytest.raises(SoldOut):
            await c.holds.place(d, buyer, [sku_item(s0, qty)])
    clock.advance(10)
    hold = await c.holds.place(d, "cat", [sku_item(s1, 1)], attribution={"channel": "social"})
    await c.holds.release(hold.id, "cat")
    clock.advance(60)
    await buy(c, d, "ann", s1, None)
    late = await api.post(
        f"/v1/drops/{d}/cues", json={"kind": "mention", "text": "Last call", "at": iso(t0 + 250)}
    )
    assert late.status_code == 201, late.text
    clock.advance(100)
    await c.drops.transition(d, DropStatus.ENDED)
    await drain_hold_events(c.engine, c.uow)

    r = await api.get("/v1/insight/lessons", params={"drop_id": d, "cue_window_s": 60})
    assert r.status_code == 200, r.text
    got = r.json()
    [f] = got["funnel"]

    def stage(x: dict[str, Any]) -> tuple[Any, ...]:
        keys = ("views", "held", "paid", "hold_rate_bp", "pay_rate_bp", "view_to_paid_bp")
        return tuple(x[k] for k in keys)

    assert stage(f) == (20, 3, 2, 1500, 6666, 1000)
    assert {s["sku_id"]: stage(s) for s in f["by_sku"]} == {
        s0: (8, 2, 2, 2500, 10_000, 2500),
        s1: (4, 2, 1, 5000, 5000, 2500),
    }
    assert [(ch["channel"], *stage(ch)) for ch in f["by_channel"]] == [
        ("live", 15, 2, 2, 1333, 10_000, 1333),
        ("social", 5, 1, 0, 2000, 0, 0),
        ("(none)", 0, 1, 1, None, 10_000, None),
    ]
    unserved = {u["sku_id"]: u for u in got["unserved"]}
    assert {
        k: (
            u["refused_taps"],
            u["refused_buyers"],
            u["unserved_units"],
            u["waitlist_joins"],
            u["unserved_demand"],
        )
        for k, u in unserved.items()
    } == {
        s0: (3, 2, 4, 0, 4),
        s1: (0, 0, 0, 0, 0),
    }
    assert got["next_first_run"]["size_curve"] == {"S0": 6, "S1": 1}
    # Flushed once: reading again (or the process job's next pass) adds nothing.
    assert await c.refused_taps.flush() == 0
    again = await c.funnel.figures(d, [s0, s1])
    assert [u["refused_taps"] for u in again["unserved"]] == [3, 0]
    assert {v["sku_id"]: v["unserved_demand"] for v in got["variants"]} == {s0: 4, s1: 0}
    lifts = [
        (x["kind"], x["scope"], x["units_before"], x["units_after"], x["before_s"], x["after_s"],
         x["before_per_min"], x["after_per_min"], x["lift_per_min"])
        for x in got["cues"]
    ]  # fmt: skip
    assert lifts == [
        ("pin", "sku", 0, 1, 50, 60, 0.0, 1.0, 1.0),
        ("mention", "drop", 1, 0, 60, 50, 1.0, 0.0, -1.0),
    ]

    csv = await api.get(
        "/v1/insight/lessons", params={"drop_id": d, "format": "csv", "cue_window_s": 60}
    )
    label0 = unserved[s0]["label"]
    for row in (
        f"funnel,{d},views,20",
        f"funnel,{d},pay_rate_bp,6666",
        f"funnel_sku,{d} {label0},held,2",
        f"funnel_channel,{d} live,hold_rate_bp,1333",
        f"unserved,{d} {label0},unserved_demand,4",
        f"cue,{d} {iso(t0 + 250)} mention,lift_per_min,-1.0",
        "size_curve,S0,corrected_demand,6",
    ):
        assert row in csv.text, row
    velocity = [ln.split(",") for ln in csv.text.splitlines() if ln.startswith("velocity,")]
    assert sum(int(v[3]) for v in velocity) == 3  # every unit sold, in its time bucket

    page = await lessons_page(c, d, 60)
    for chart in ("sell-through-chart", "size-curve-chart", f"funnel-chart-{d}", f"cue-chart-{d}"):
        assert f'id="{chart}"' in page, chart
    assert page.count('<g class="cue" data-at=') == 2 and page.count('<g class="cue-label">') == 2
    assert f'<g class="cue" data-at="{iso(t0 + 50)}"><title>pin: Pinned the tee at' in page
    assert (
        "Hold rate = held ÷ views" in page
        and "Unserved demand counts each buyer's unmet demand once" in page
    )
    assert '<td class="num">+1.00</td>' in page and '<td class="num">-1.00</td>' in page
    assert "<script>" not in page


async def lessons_page(c: Container, drop_id: str, window: int) -> str:
    web = create_app(container=c)
    web.state.container = c
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as ui:
        key, _ = await c.access.create_key("ops-ui", "ops")
        form = await ui.get("/ui/login")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        await ui.post("/ui/login", data={"api_key": key, "csrf_token": token})
        page = await ui.get("/ui/lessons", params={"drop_id": drop_id, "cue_window_s": window})
    assert page.status_code == 200, page.text
    return page.text


def test_the_cues_command(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPLINE_DATABASE_URL", sqlite_url)
    out = CliRunner().invoke(app, ["cues", "add", "drp_nope", "--kind", "pin"])
    assert out.exit_code == 1 and "not found" in out.output
    out = CliRunner().invoke(app, ["cues", "add", "drp_nope", "--kind", "pin", "--at", "noon"])
    assert out.exit_code == 1 and "RFC 3339" in out.output
    help_text = CliRunner().invoke(app, ["cues", "add", "--help"]).output
    assert "Example:" in help_text and "--sku" in help_text


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"counts": []}, 422),
        ({"counts": [{"views": 0}]}, 422),
        ({"counts": [{"views": 1_000_001}]}, 422),
        ({"counts": [{"views": 1, "channel": "tiktok"}]}, 422),
        ({"counts": [{"views": 1, "sku_id": "sku_not_offered"}]}, 422),
        ({"counts": [{"views": 1, "buyer_id": "ann"}]}, 422),  # no buyer reaches the counters
        ({"counts": [{"views": 1}] * 201}, 422),
        ({"counts": [{"views": "3"}]}, 422),
    ],
)
async def test_bad_view_batches_are_refused_whole(
    container: Container, api: httpx.AsyncClient, store: dict[str, str], body: Any, status: int
) -> None:
    shop = await seed_shop(container, units=1)
    good = {"views": 3, "channel": "social"}
    body = {"counts": [good, *body["counts"]]} if body["counts"] else body
    r = await api.post(f"/v1/drops/{shop.drop_id}/views", json=body, headers=store)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    figures = await container.funnel.figures(shop.drop_id, shop.skus)
    assert figures["funnel"]["views"] == 0  # the good entry was not counted either


async def test_views_and_cues_need_the_right_key_and_a_known_drop(
    container: Container, api: httpx.AsyncClient, store: dict[str, str]
) -> None:
    shop = await seed_shop(container, units=1)
    one = {"counts": [{"views": 1}]}
    assert (await api.post("/v1/drops/drp_nope/views", json=one, headers=store)).status_code == 404
    no_key = {"Authorization": ""}
    assert (
        await api.post(f"/v1/drops/{shop.drop_id}/views", json=one, headers=no_key)
    ).status_code == 401
    cue = {"kind": "pin", "text": "x"}
    # A storefront key ships to browsers: it reports views but does not write cues.
    assert (
        await api.post(f"/v1/drops/{shop.drop_id}/cues", json=cue, headers=store)
    ).status_code == 403
    assert (await api.post("/v1/drops/drp_nope/cues", json=cue)).status_code == 404
    for bad in (
        {"kind": "dance", "text": "x"},
        {"kind": "pin", "sku_id": "sku_nope"},
        {"kind": "pin", "product_id": "prd_nope"},
        {"kind": "pin", "text": "x" * 501},
        {"kind": "pin", "at": "2026-12-07 10:00"},
    ):
        r = await api.post(f"/v1/drops/{shop.drop_id}/cues", json=bad)
        assert r.status_code == 422, (bad, r.text)
    assert (await api.get(f"/v1/drops/{shop.drop_id}/cues")).json() == []


async def test_a_buyer_refused_and_then_in_the_line_counts_once(
    container: Container, api: httpx.AsyncClient
) -> None:
    """One unit of S0, held by ann. cat taps 2 (refused sold out) and joins the line;
    bob taps 1 and joins; eve joins, leaves and joins again. ann lets go, the line
    offers the unit to cat and she pays. Unserved units 3 (cat 2 + bob 1); waitlist
    joins 2 (bob, eve: cat was served, eve counts once); unserved demand 3 (cat 2 − 1
    claimed, bob 1, eve 1), not 3 + 3 = 6 as a refusal and a join each."""
    c = container
    shop = await seed_shop(c, units=1, skus=1)
    d, [s0] = shop.drop_id, shop.skus
    early = await c.holds.place(d, "ann", [sku_item(s0, 1)])
    for buyer, qty in (("cat", 2), ("bob", 1)):
        with pytest.raises(SoldOut):
            await c.holds.place(d, buyer, [sku_item(s0, qty)])
        await c.waitlist.join(d, s0, buyer)
    await c.waitlist.join(d, s0, "eve")
    await c.waitlist.leave(d, s0, "eve")
    await c.waitlist.join(d, s0, "eve")
    await c.holds.release(early.id, "ann")
    assert await c.waitlist_serving.serve_once() == 1
    [claim] = await c.waitlist.mine(d, "cat")
    assert (await c.checkout.start(claim["hold_id"], "cat", VISA)).order is not None
    await c.waitlist_serving.serve_once()
    assert (await c.waitlist.mine(d, "cat"))[0]["status"] == "claimed"

    [u] = (await c.funnel.figures(d, [s0]))["unserved"]
    keys = ("refused_taps", "refused_buyers", "unserved_units", "waitlist_joins")
    assert (*(u[k] for k in keys), u["unserved_demand"]) == (2, 2, 3, 2, 3)
    r = await api.get("/v1/insight/lessons", params={"drop_id": d})
    assert r.status_code == 200, r.text
    assert {v["sku_id"]: v["unserved_demand"] for v in r.json()["variants"]} == {s0: 3}


async def test_a_refused_buyer_who_bought_the_sku_later_is_served(
    container: Container, api: httpx.AsyncClient
) -> None:
    """Two units of S0, both held by ann. cat taps 2 and dan taps 1: refused sold out.
    Nobody is in line, so when ann lets go both units go on sale: cat buys 1, dan buys
    1. Unserved units 3 (what they asked for), unserved demand 1: cat's second unit;
    dan bought what he wanted, not through the line but served all the same."""
    c = container
    shop = await seed_shop(c, units=2, skus=1)
    d, [s0] = shop.drop_id, shop.skus
    early = await c.holds.place(d, "ann", [sku_item(s0, 2)])
    for buyer, qty in (("cat", 2), ("dan", 1)):
        with pytest.raises(SoldOut):
            await c.holds.place(d, buyer, [sku_item(s0, qty)])
    await c.holds.release(early.id, "ann")
    for buyer in ("cat", "dan"):
        await buy(c, d, buyer, s0, "live")

    [u] = (await c.funnel.figures(d, [s0]))["unserved"]
    keys = ("refused_taps", "refused_buyers", "unserved_units", "waitlist_joins")
    assert (*(u[k] for k in keys), u["unserved_demand"]) == (2, 2, 3, 0, 1)
    r = await api.get("/v1/insight/lessons", params={"drop_id": d})
    assert r.status_code == 200, r.text
    assert {v["sku_id"]: v["unserved_demand"] for v in r.json()["variants"]} == {s0: 1}

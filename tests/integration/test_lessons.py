"""Next-drop insight across drops on both backend profiles, against a hand-computed
fixture (the clock starts at t0 and both drops go live then):

- drop D1 offers 2 units each of S0 and S1. At t0+30 s ann buys 2 S0 (through
  channel ``clip``): S0 sells out 30 s after going live; bob buys 1 S1.
- drop D2 offers 3 units of T0. At t0+10 d ann and cat buy 1 each; at t0+60 s+110 d bob buys
  the last one: T0 sells out 9,504,030 s after going live.
- variants: S0 2/2 (10000 bp, sold out in D1, 30 s); S1 1/2 (5000 bp); T0 3/3 (10000
  bp, sold out in D2, 9504060 s).
- conversion by channel: clip 1 hold, 1 order (10000 bp), 2 units.
- D1 ends at t0+60 s: S0's corrected demand 2 × 60 / 30 = 4; S1 1; T0 3 (it sold out
  at the end of D2's window so far). Size curve S0 7, S1 1; per-drop totals 5 and 3:
  demand worst 3, expected 4, best 5.
- cohorts: D1 = ann, bob; ann bought again in D2 within 90 days, bob only after 110
  days: 1 of 2 (5000 bp). D2 = cat: 0 of 1. Both complete at t0+110 d.
"""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.cli.app import app
from dropline.domain.live.drops import DropStatus
from dropline.services.live.hold_journal import drain_hold_events
from dropline.services.ports import ManualClock
from preorders_support import VISA
from support import seed_shop, sku_item


async def buy(
    c: Container, drop_id: str, buyer: str, sku: str, qty: int, channel: str | None = None
) -> None:
    attribution = {"channel": channel} if channel else None
    hold = await c.holds.place(drop_id, buyer, [sku_item(sku, qty)], attribution=attribution)
    result = await c.checkout.start(hold.id, buyer, VISA)
    assert result.order is not None


async def test_lessons_across_two_drops(
    container: Container, api: httpx.AsyncClient, clock: ManualClock
) -> None:
    c = container
    d1 = await seed_shop(c, units=2, skus=2)
    d2 = await seed_shop(c, units=3)
    s0, s1 = d1.skus
    [t0] = d2.skus
    clock.advance(30)
    await buy(c, d1.drop_id, "ann", s0, 2, "clip")
    await buy(c, d1.drop_id, "bob", s1, 1)
    clock.advance(30)
    await c.drops.transition(d1.drop_id, DropStatus.ENDED)
    clock.advance(10 * 86400)
    await buy(c, d2.drop_id, "ann", t0, 1)
    await buy(c, d2.drop_id, "cat", t0, 1)
    clock.advance(100 * 86400)
    await buy(c, d2.drop_id, "bob", t0, 1)
    await drain_hold_events(c.engine, c.uow)

    r = await api.get(
        "/v1/insight/lessons", params=[("drop_id", d1.drop_id), ("drop_id", d2.drop_id)]
    )
    assert r.status_code == 200, r.text
    got = r.json()
    variants = {v["sku_id"]: v for v in got["variants"]}
    figures = {
        k: (v["drops"], v["offered"], v["sold"], v["sell_through_bp"], v["fastest_sell_out_s"])
        for k, v in variants.items()
    }
    assert figures == {
        s0: (1, 2, 2, 10_000, 30),
        s1: (1, 2, 1, 5000, None),
        t0: (1, 3, 3, 10_000, 9_504_060),
    }
    assert variants[s0]["sold_out_in"] == [d1.drop_id] and variants[s1]["sold_out_in"] == []
    # D1 ran 60 s and S0 sold out at 30 s: 2 × 60 / 30 = 4; S1 kept 1; D2's T0 sold
    # out at the end of its window so far: 3. Totals per drop: 5 and 3.
    assert got["next_first_run"] == {
        "size_curve": {"S0": 7, "S1": 1},
        "demand": {"worst": 3, "expected": 4, "best": 5},
    }
    first_run = await api.post(
        "/v1/planning/first-run",
        json={"price": 2500, "unit_cost": 900, "currency": "USD"} | got["next_first_run"],
    )
    assert first_run.status_code == 200, first_run.text  # the suggestion is its input
    assert got["conversion"]["channel"][0] == {
        "key": "clip",
        "holds": 1,
        "orders": 1,
        "units": 2,
        "conversion_bp": 10_000,
    }
    assert got["repeat_cohorts"] == [
        {
            "drop_id": d1.drop_id,
            "cohort": 2,
            "repeat_90d": 1,
            "repeat_90d_bp": 5000,
            "complete": True,
        },
        {"drop_id": d2.drop_id, "cohort": 1, "repeat_90d": 0, "repeat_90d_bp": 0, "complete": True},
    ]

    as_csv = await api.get(
        "/v1/insight/lessons", params=[("drop_id", d1.drop_id), ("format", "csv")]
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert f"repeat_cohort,{d1.drop_id},repeat_90d_bp,5000" in as_csv.text
    assert "size_curve,S0,corrected_demand,4" in as_csv.text  # D1 alone
    bad = await api.get("/v1/insight/lessons", params={"drop_id": "drp_nope"})
    assert bad.status_code == 404
    assert (await api.get("/v1/insight/lessons", params={"drop_id": " "})).status_code == 422

    web = create_app(container=c)
    web.state.container = c
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as ui:
        key, _ = await c.access.create_key("ops-ui", "ops")
        form = await ui.get("/ui/login")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        await ui.post("/ui/login", data={"api_key": key, "csrf_token": token})
        page = await ui.get(
            "/ui/lessons", params=[("drop_id", d1.drop_id), ("drop_id", d2.drop_id)]
        )
    assert page.status_code == 200
    assert "50.00 %" in page.text and "9504060 s" in page.text
    assert '<td>S0</td><td class="num">7</td>' in page.text
    assert "cohort: the buyers whose first paid order was in it" in page.text


def test_the_lessons_command(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPLINE_DATABASE_URL", sqlite_url)
    out = CliRunner().invoke(app, ["lessons", "drp_nope"])
    assert out.exit_code != 0 and "not found" in out.output
    out = CliRunner().invoke(app, ["lessons", "drp_nope", "--csv"])
    assert out.exit_code != 0 and "not found" in out.output

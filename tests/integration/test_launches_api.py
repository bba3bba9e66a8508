"""Launch planning over HTTP (the ASGI app in process), on SQLite and PostgreSQL: from a
concept to a go decision, a first-run quantity and a feasible timeline; bad input as a
clear 422 that changes nothing; the launch tied to its production run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.store.schema import metadata
from preorders_support import buy, now, preorder_drop, seed_run

PROBLEM = "application/problem+json"
SCORES = {
    "demand_certainty": {"score": 4, "note": "220 waitlist sign-ups"},
    "margin": {"score": 5, "note": "64 %"},
    "complexity": {"score": 4, "note": "one fabric, 4 sizes"},
    "lead_time": {"score": 4, "note": "3 weeks of slack"},
    "return_risk": {"score": 3, "note": "sizing returns"},
    "content_value": {"score": 5, "note": "the hoodie is the show"},
}
FIRST_RUN = {
    "price": 6500,
    "unit_cost": 2400,
    "salvage": 1200,
    "currency": "USD",
    "demand": {"best": 900, "expected": 500, "worst": 200},
}


@pytest.fixture
async def api(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=container)
    app.state.container = container
    raw, _ = await container.access.create_key("ops-lee", "ops")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {raw}"},
    ) as client:
        yield client


def today(c: Container) -> date:
    return datetime.fromtimestamp(c.clock.now(), UTC).date()


def problem(r: httpx.Response, code: str, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["code"] == code and body["detail"]
    return body


async def snapshot(c: Container) -> dict[str, Any]:
    """Row counts of every table, and the planning rows themselves."""
    out: dict[str, Any] = {}
    async with c.db.connect() as conn:
        for table in metadata.sorted_tables:
            out[table.name] = (await conn.execute(select(func.count()).select_from(table))).scalar()
        for name in ("launches", "launch_milestones", "launch_scorecards", "run_milestones"):
            rows = await conn.execute(select(metadata.tables[name]))
            out[f"{name}:rows"] = sorted(str(tuple(r)) for r in rows)
    return out


async def test_concept_to_go_first_run_and_feasible_timeline(
    api: httpx.AsyncClient, container: Container
) -> None:
    stream = today(container) + timedelta(days=90)
    r = await api.post(
        "/v1/launches",
        json={
            "name": "Winter hoodie",
            "concept": "heavy fleece",
            "stream_date": stream.isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    launch = r.json()
    lid = launch["id"]
    tl = launch["timeline"]
    assert tl["feasible"] is True and tl["day_unit"] == "calendar" and tl["buffer_days"] == 7
    # The standard template: 63 days of critical path; 90 − 7 − 63 = 20 days of slack.
    assert tl["slack_days"] == 20 and tl["slack_to_stream_days"] == 27
    assert tl["critical_path"][0] == "design_freeze" and tl["critical_path"][-1] == "rehearsal"
    by_key = {m["key"]: m for m in tl["milestones"]}
    assert (
        by_key["packaging_proof"]["slack_days"] == 24 and not by_key["packaging_proof"]["critical"]
    )
    assert by_key["rehearsal"]["latest_finish"] == (stream - timedelta(days=8)).isoformat()

    # First run: three-point demand (200, 500, 900) → mean 516.7, sd 116.7.
    r = await api.post(f"/v1/launches/{lid}/scenarios", json=FIRST_RUN | {"moq": 300})
    assert r.status_code == 201, r.text
    sc = r.json()
    assert sc["critical_ratio"] == round(4100 / 5300, 4)
    assert sc["decision"] == "order" and sc["order_quantity"] == sc["first_run_quantity"]
    # z = Φ⁻¹(0.7736) = 0.751; 516.7 + 0.751 × 116.7 = 604.3 → 605.
    assert sc["first_run_quantity"] == 605
    assert set(sc["scenarios"]) == {"worst", "expected", "best", "first_run"}
    assert sc["scenarios"]["first_run"]["cash_tied_up"] == 2400 * sc["first_run_quantity"]

    # Proposals and the stress test from what dropline knows.
    r = await api.get(f"/v1/launches/{lid}/scorecard")
    card = r.json()
    assert card["current"] is None
    proposed = {p["variable"]: p for p in card["proposals"]}
    assert proposed["margin"]["score"] == 5 and "63 %" in proposed["margin"]["why"]
    assert proposed["lead_time"]["score"] == 5  # 27 days before the stream moves
    checks = {ch["name"]: ch for ch in card["stress_test"]["checks"]}
    assert checks["delay"]["status"] == "pass" and checks["delay"]["numbers"]["spare_days"] == 13
    assert checks["colour_variation"]["status"] == "manual"
    assert checks["defects_vs_buffer"]["status"] == "fail"  # no buffer units yet
    assert checks["defects_vs_margin"]["status"] == "pass"

    r = await api.patch(f"/v1/launches/{lid}", json={"buffer_units": 30})
    assert r.status_code == 200
    r = await api.get(f"/v1/launches/{lid}/scorecard")
    assert {c["name"]: c["status"] for c in r.json()["stress_test"]["checks"]}[
        "defects_vs_buffer"
    ] == "pass"

    # Score it: versioned with who and why; 4,5,4,4,3,5 → (3+4+3+3+2+4)/24 = 79 %, go.
    r = await api.put(f"/v1/launches/{lid}/scorecard", json={"scores": SCORES, "reason": "kickoff"})
    assert r.status_code == 200, r.text
    cur = r.json()["current"]
    assert (cur["total"], cur["verdict"], cur["version"], cur["changed_by"]) == (
        79,
        "go",
        1,
        "ops-lee",
    )
    # Margin 2 weighted 3: (3·1 + 3+3+3+2+4) / (4·8) = 56 %, review.
    low = SCORES | {"margin": {"score": 2, "note": "factory quote doubled"}}
    r = await api.put(
        f"/v1/launches/{lid}/scorecard",
        json={"scores": low, "weights": {"margin": 3}, "reason": "new quote"},
    )
    cur = r.json()["current"]
    assert cur["version"] == 2 and cur["verdict"] == "review" and cur["total"] == 56
    hist = (await api.get(f"/v1/launches/{lid}/scorecard/history")).json()
    assert [(h["version"], h["reason"]) for h in hist] == [(2, "new quote"), (1, "kickoff")]

    got = (await api.get(f"/v1/launches/{lid}")).json()
    assert got["scorecard"]["verdict"] == "review" and got["latest_scenario"]["id"] == sc["id"]
    assert got["alerts"] == []
    assert [x["id"] for x in (await api.get("/v1/launches")).json()] == [lid]

    ics = await api.get(f"/v1/launches/{lid}/calendar.ics")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    body = ics.text
    assert body.startswith("BEGIN:VCALENDAR") and body.count("BEGIN:VEVENT") == 12
    assert f"UID:{lid}-sample_approval@dropline" in body and "Stream: Winter hoodie" in body


async def test_stand_alone_first_run(api: httpx.AsyncClient) -> None:
    """Cachon & Terwiesch's O'Neill wetsuit over HTTP: 4,096 units, nothing stored."""
    body = {
        "price": 18000,
        "unit_cost": 11000,
        "salvage": 9000,
        "currency": "USD",
        "demand": {"mean": 3192, "sd": 1181},
        "moq": 5000,
        "size_curve": {"S": 1, "M": 2, "L": 2, "XL": 1},
    }
    r = await api.post("/v1/planning/first-run", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["critical_ratio"] == 0.7778 and out["first_run_quantity"] == 4096
    assert out["decision"] == "order_moq" and out["order_quantity"] == 5000
    assert out["size_split"] == {
        "source": "given",
        "curve": {"S": 1.0, "M": 2.0, "L": 2.0, "XL": 1.0},
        "units": {"S": 833, "M": 1667, "L": 1667, "XL": 833},
    }
    assert out["phased_plan"]["reorder"] == {"threshold_pct": 70, "window_days": 14}


async def test_bad_input_is_a_clear_422_and_changes_nothing(
    api: httpx.AsyncClient, container: Container
) -> None:
    stream = (today(container) + timedelta(days=90)).isoformat()
    r = await api.post("/v1/launches", json={"name": "Cap", "stream_date": stream})
    lid = r.json()["id"]
    before = await snapshot(container)

    def ms(*items: tuple[str, int, list[str]]) -> list[dict[str, Any]]:
        return [{"key": k, "duration_days": d, "depends_on": deps} for k, d, deps in items]

    cycle = ms(("a", 1, ["c"]), ("b", 1, ["a"]), ("c", 1, ["b"]))
    body = problem(
        await api.put(f"/v1/launches/{lid}/timeline", json={"milestones": cycle}),
        "dependency_cycle",
    )
    assert body["cycle"] == ["a", "b", "c", "a"] and "a → b → c → a" in body["detail"]
    body = problem(
        await api.post(
            "/v1/launches", json={"name": "x", "stream_date": stream, "milestones": cycle}
        ),
        "dependency_cycle",
    )
    unknown = ms(("a", 1, []), ("b", 1, ["zz"]))
    body = problem(
        await api.put(f"/v1/launches/{lid}/timeline", json={"milestones": unknown}),
        "validation_error",
    )
    assert body["dependency"] == "zz" and "depends on zz" in body["detail"]
    negative = ms(("a", -3, []))
    body = problem(
        await api.put(f"/v1/launches/{lid}/timeline", json={"milestones": negative}),
        "validation_error",
    )
    assert "negative duration" in body["detail"] and body["key"] == "a"
    body = problem(
        await api.patch(
            f"/v1/launches/{lid}/milestones/final_qc", json={"depends_on": ["rehearsal"]}
        ),
        "dependency_cycle",
    )
    assert body["cycle"][0] == body["cycle"][-1] and "final_qc" in body["cycle"]
    past = (today(container) - timedelta(days=1)).isoformat()
    body = problem(
        await api.post("/v1/launches", json={"name": "x", "stream_date": past}), "validation_error"
    )
    assert "in the past" in body["detail"]
    problem(await api.patch(f"/v1/launches/{lid}", json={"stream_date": past}), "validation_error")
    for change, words in (
        ({"salvage": 2500}, "salvage value (2500) is above the unit cost"),
        ({"unit_cost": 7000, "salvage": 0}, "unit cost (7000) is above the price"),
        ({"demand": {"mean": 500, "sd": 0}}, "no fallback"),
        ({"demand": {"best": 10, "expected": 20, "worst": 5}}, "worst <= expected <= best"),
    ):
        for url in ("/v1/planning/first-run", f"/v1/launches/{lid}/scenarios"):
            assert (
                words
                in problem(await api.post(url, json=FIRST_RUN | change), "validation_error")[
                    "detail"
                ]
            )
    bad_scores = SCORES | {"margin": {"score": 9, "note": ""}}
    problem(
        await api.put(f"/v1/launches/{lid}/scorecard", json={"scores": bad_scores, "reason": "x"}),
        "validation_error",
    )
    problem(await api.get("/v1/launches/lch_nope"), "not_found", 404)
    problem(
        await api.post(
            "/v1/launches", json={"name": "x", "stream_date": stream, "run_id": "run_nope"}
        ),
        "not_found",
        404,
    )
    assert await snapshot(container) == before


async def test_a_slip_anywhere_moves_the_run_and_the_preorder_promise(
    api: httpx.AsyncClient, container: Container
) -> None:
    """The launch's production milestones are the run's: creating the launch writes the
    plan's dates to the run; an actual date recorded late on sample approval moves
    warehouse intake, the pre-orders' ship estimate and sends delay notices; an overdue
    milestone alerts its owner once."""
    c = container
    f = await seed_run(c, quantity=500)
    drop_id = await preorder_drop(c, f, cap=50)
    order = await buy(c, drop_id, "ann", f.sku_id, 1)
    start = today(c)
    stream = start + timedelta(days=100)
    r = await api.post(
        "/v1/launches",
        json={
            "name": "Hoodie",
            "stream_date": stream.isoformat(),
            "start_date": start.isoformat(),
            "run_id": f.run_id,
            "product_id": f.product_id,
        },
    )
    assert r.status_code == 201, r.text
    lid = r.json()["id"]
    run = (await api.get(f"/v1/runs/{f.run_id}")).json()
    planned = {m["kind"]: m["planned_at"] for m in run["milestones"]}
    # Standard template: warehouse intake is done on day 59 (60 days of work).
    assert planned["warehouse_intake"] == at(start, 59)
    assert planned["sample_approval"] == at(start, 18)
    latest_before = run["ship_estimate"]["latest"]

    async with c.uow(readonly=True) as uow:
        notices_before = len(await uow.production.notices(order.id))

    # Day 25: design freeze and packaging proof were done on time, the sample was
    # approved 4 days late (due day 18, done day 22).
    container.clock._now += 25 * 86400  # type: ignore[attr-defined]
    for key, day in (("design_freeze", 4), ("packaging_proof", 14)):
        r = await api.patch(
            f"/v1/launches/{lid}/milestones/{key}",
            json={"actual_finish": (start + timedelta(days=day)).isoformat()},
        )
        assert r.status_code == 200, r.text
    done = (start + timedelta(days=22)).isoformat()
    r = await api.patch(
        f"/v1/launches/{lid}/milestones/sample_approval",
        json={"actual_finish": done, "reason": "fabric colour re-dye"},
    )
    assert r.status_code == 200, r.text
    tl = r.json()
    assert {m["key"]: m for m in tl["milestones"]}["sample_approval"]["actual_finish"] == done
    assert tl["critical_path"][0] == "production_start"
    run = (await api.get(f"/v1/runs/{f.run_id}")).json()
    ms = {m["kind"]: m for m in run["milestones"]}
    assert ms["sample_approval"]["actual_at"] == f"{done}T00:00:00Z"
    assert ms["warehouse_intake"]["planned_at"] == at(start, 63)  # 4 days later
    assert ms["final_qc"]["planned_at"] == at(start, 40)
    assert run["ship_estimate"]["latest"] > latest_before
    history = (await api.get(f"/v1/runs/{f.run_id}/milestones/history")).json()
    assert any("re-planned by launch" in h["reason"] for h in history)
    async with c.uow(readonly=True) as uow:
        notices = await uow.production.notices(order.id)
    assert len(notices) > notices_before  # the buyer hears of the new date

    # Production start (owner with an address) is due day 25 and still open on day 30:
    # overdue; its owner is alerted once.
    r = await api.patch(
        f"/v1/launches/{lid}/milestones/production_start", json={"owner": "pat@studio.example"}
    )
    assert r.status_code == 200
    container.clock._now += 5 * 86400  # type: ignore[attr-defined]
    assert await c.launch_watch.watch() == 1
    assert await c.launch_watch.watch() == 0  # one alert per due date
    got = (await api.get(f"/v1/launches/{lid}")).json()
    alerts = {a["milestone"]: a for a in got["alerts"]}
    assert alerts["production_start"]["owner"] == "pat@studio.example"
    assert alerts["production_start"]["due"] == (start + timedelta(days=25)).isoformat()
    async with c.uow(readonly=True) as uow:
        events = await uow.outbox.list(aggregate_id=lid)
        msgs = await uow.messages.list(kind="milestone_overdue")
    assert "launch.milestone_overdue" in [e["type"] for e in events]
    assert [m["to_email"] for m in msgs] == ["pat@studio.example"]
    assert "Production start" in msgs[0]["subject"]

    # The factory records the start on the run itself (day 29): the watch re-plans the
    # chain from it and moves the run's intake (4 more days late: day 67).
    r = await api.patch(
        f"/v1/runs/{f.run_id}/milestones/production_start",
        json={"actual_at": at(start, 29)},
    )
    assert r.status_code == 200, r.text
    await c.launch_watch.watch()
    run = (await api.get(f"/v1/runs/{f.run_id}")).json()
    assert {m["kind"]: m for m in run["milestones"]}["warehouse_intake"]["planned_at"] == at(
        start, 67
    )
    got = (await api.get(f"/v1/launches/{lid}")).json()
    assert got["alerts"] == [] and now(c).date() == start + timedelta(days=30)


def at(start: date, days: int) -> str:
    return f"{(start + timedelta(days=days)).isoformat()}T00:00:00Z"


async def test_business_days_skip_a_countrys_holidays(
    api: httpx.AsyncClient, container: Container
) -> None:
    """Monday 21 Dec 2026, US holidays (the maintained ``holidays`` package): Christmas
    (Fri 25) and New Year's Day (Fri 1 Jan) are skipped, so a 5-business-day milestone
    started on the 21st finishes on Monday the 28th."""
    start = date(2026, 12, 21)
    body = {
        "name": "Gift box",
        "stream_date": "2027-01-11",
        "start_date": start.isoformat(),
        "buffer_days": 2,
        "business_days": True,
        "country": "us",
        "milestones": [{"key": "make", "duration_days": 5, "owner": "factory"}],
    }
    container.clock._now = datetime(2026, 12, 21, 9, tzinfo=UTC).timestamp()  # type: ignore[attr-defined]
    r = await api.post("/v1/launches", json=body)
    assert r.status_code == 201, r.text
    tl = r.json()["timeline"]
    assert tl["day_unit"] == "business" and tl["country"] == "US"
    make = tl["milestones"][0]
    assert (make["earliest_start"], make["earliest_finish"]) == ("2026-12-21", "2026-12-28")
    # Stream Mon 11 Jan, 2 business days of buffer: due by Wed 6 Jan; the working days
    # after the 28th up to it are 29, 30, 31, 4, 5, 6 → 6 days of slack.
    assert tl["deadline"] == "2027-01-06" and tl["slack_days"] == 6
    r = await api.patch(f"/v1/launches/{r.json()['id']}", json={"business_days": False})
    assert r.json()["timeline"]["milestones"][0]["earliest_finish"] == "2026-12-25"
    problem(await api.post("/v1/launches", json=body | {"country": "XX"}), "validation_error")

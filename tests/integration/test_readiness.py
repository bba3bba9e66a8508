"""The readiness gate on both backends: the computed checklist (each item pass, warn or
block with evidence and what to do) for a fresh drop and for one made ready step by
step, its windows running out, signed test deliveries to a real local warehouse, the
enforced gate refusing to go live without an override and keeping the override in the
drop's history, the API, the CLI's exit code and the /ui panel."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from backends import free_port
from dropline.api.app import create_app
from dropline.bootstrap import Container, build
from dropline.cli.app import app as cli
from dropline.config import Settings
from dropline.domain.errors import NotReady
from dropline.domain.live.drops import DropStatus
from dropline.services.live.schedule import BLOCKED_RETRY_S, START_BLOCKED, DropSchedule
from dropline.services.ports import ManualClock
from readiness_support import (
    READY_SETTINGS,
    count_it,
    items,
    ready_container,
    scheduled_drop,
    warehouse,
)
from support import seed_shop


async def test_a_fresh_drop_blocks_and_says_why(container: Container, database_url: str) -> None:
    shop = await seed_shop(container, units=3, live=False)
    # The development buyer secret blocks where the service looks deployed (PostgreSQL).
    deployed = database_url.startswith("postgresql")
    report = await container.readiness.checklist(shop.drop_id)
    got = items(report)
    assert report["verdict"] == "block" and report["gate"] == "advise"
    assert got == {
        "priced": "pass",
        "counted": "block",
        "no_open_variance": "pass",
        "offers_within_stock": "pass",
        "staged": "block",
        "qc_passed": "pass",
        "buffer_set": "warn",
        "warehouse_endpoints": "warn",
        "payments": "pass",
        "returns_policy": "block",
        "message_templates": "pass",
        "dev_secrets": "block" if deployed else "warn",
        "rehearsal": "block",
        "launch_timeline": "pass",
    }
    staged = next(i for i in report["items"] if i["id"] == "staged")
    assert "TEE-0" in staged["evidence"] and "dropline bins stage" in staged["action"]


async def test_a_ready_drop_passes_until_its_windows_run_out(
    database_url: str, clock: ManualClock
) -> None:
    async with ready_container(database_url, clock) as c:
        d = await scheduled_drop(c)
        rec, endpoint_id = await warehouse(c)
        try:
            before = items(await c.readiness.checklist(d.drop_id))
            assert before["counted"] == "block" and before["warehouse_endpoints"] == "block"
            await count_it(c, d)
            sent = await c.readiness.send_test_delivery(endpoint_id, "ann")
            assert sent["ok"] and sent["status_code"] == 200
            assert rec.verified()[-1].json["type"] == "webhook.test"
            assert rec.verified()[-1].json["data"]["test"] is True
            rehearsal = await c.rehearsals.run(d.drop_id, actor="ann")
            assert rehearsal["status"] == "passed", rehearsal["stages"]
            report = await c.readiness.checklist(d.drop_id)
            assert report["verdict"] == "pass", report["items"]
            clock.advance(25 * 3600)  # the endpoint test and the rehearsal are stale
            late = items(await c.readiness.checklist(d.drop_id))
            assert (late["warehouse_endpoints"], late["rehearsal"], late["counted"]) == (
                "block",
                "block",
                "pass",
            )
            clock.advance(24 * 3600)  # and now the count too
            assert items(await c.readiness.checklist(d.drop_id))["counted"] == "block"
        finally:
            await rec.stop()


async def test_open_variances_and_failing_endpoints_block(
    database_url: str, clock: ManualClock
) -> None:
    async with ready_container(database_url, clock) as c:
        d = await scheduled_drop(c)
        rec, endpoint_id = await warehouse(c, status=503)
        try:
            s = await c.counts.open(skus=[d.sku_id], actor="olga")
            await c.counts.count(s["id"], d.bin_code, d.sku_id, 2, actor="cody")
            sent = await c.readiness.send_test_delivery(endpoint_id, "ann")
            assert (sent["ok"], sent["status_code"]) == (False, 503)
            report = await c.readiness.checklist(d.drop_id)
            by_id = {i["id"]: i for i in report["items"]}
            assert by_id["no_open_variance"]["status"] == "block"
            assert by_id["warehouse_endpoints"]["status"] == "block"
            assert "answered 503" in by_id["warehouse_endpoints"]["evidence"]
        finally:
            await rec.stop()


async def test_enforced_gate_needs_an_override_kept_in_the_drops_history(
    database_url: str, clock: ManualClock
) -> None:
    async with ready_container(database_url, clock, readiness_gate="enforce") as c:
        d = await scheduled_drop(c)
        with pytest.raises(NotReady) as refused:
            await c.drops.transition(d.drop_id, DropStatus.LIVE, actor="ann")
        assert {b["id"] for b in refused.value.extra["blocks"]} >= {"counted", "rehearsal"}
        assert (await c.drops.get(d.drop_id))[0].status is DropStatus.SCHEDULED
        live = await c.drops.transition(
            d.drop_id, DropStatus.LIVE, actor="ann", override_reason="count done on paper"
        )
        assert live.status is DropStatus.LIVE
        report = await c.readiness.checklist(d.drop_id)
        [override] = report["overrides"]
        assert (override["actor"], override["reason"]) == ("ann", "count done on paper")
        assert "counted" in {b["id"] for b in override["blocks"]}
        async with c.uow(readonly=True) as uow:
            events = await uow.outbox.list(aggregate_id=d.drop_id)
        overridden = [e for e in events if e["type"] == "drop.readiness_overridden"]
        assert overridden[0]["payload"]["reason"] == "count done on paper"
        # Pausing and resuming is not going live again: no gate.
        await c.drops.transition(d.drop_id, DropStatus.PAUSED, actor="ann")
        await c.drops.transition(d.drop_id, DropStatus.LIVE, actor="ann")


async def test_enforced_gate_lets_a_ready_drop_go_live(
    database_url: str, clock: ManualClock
) -> None:
    async with ready_container(database_url, clock, readiness_gate="enforce") as c:
        d = await scheduled_drop(c)
        rec, endpoint_id = await warehouse(c)
        try:
            await count_it(c, d)
            await c.readiness.send_test_delivery(endpoint_id, "ann")
            r = await c.rehearsals.run(d.drop_id, actor="ann")
            assert r["status"] == "passed", r
            live = await c.drops.transition(d.drop_id, DropStatus.LIVE, actor="ann")
            assert live.status is DropStatus.LIVE
            assert (await c.readiness.checklist(d.drop_id))["overrides"] == []
        finally:
            await rec.stop()


async def test_gate_over_the_api(database_url: str, clock: ManualClock) -> None:
    async with ready_container(database_url, clock, readiness_gate="enforce") as c:
        d = await scheduled_drop(c)
        rec, endpoint_id = await warehouse(c)
        key, _ = await c.access.create_key("ops", "ops")
        app = create_app(container=c)
        app.state.container = c
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
        ) as api:
            try:
                r = await api.get(f"/v1/drops/{d.drop_id}/readiness")
                assert r.status_code == 200 and r.json()["verdict"] == "block"
                assert (await api.get("/v1/drops/drp_nope/readiness")).status_code == 404
                r = await api.post(f"/v1/webhook-endpoints/{endpoint_id}/test")
                assert r.status_code == 201 and r.json()["ok"] is True
                assert (await api.post("/v1/webhook-endpoints/whe_nope/test")).status_code == 404
                r = await api.post(f"/v1/drops/{d.drop_id}/transitions", json={"to": "live"})
                assert r.status_code == 409 and r.json()["code"] == "not_ready"
                assert any(b["id"] == "counted" for b in r.json()["blocks"])
                body = {"to": "live", "override_reason": "x" * 2001}
                r = await api.post(f"/v1/drops/{d.drop_id}/transitions", json=body)
                assert r.status_code == 422
                body = {"to": "live", "override_reason": "the CEO said so"}
                r = await api.post(f"/v1/drops/{d.drop_id}/transitions", json=body)
                assert r.status_code == 200 and r.json()["status"] == "live"
                report = (await api.get(f"/v1/drops/{d.drop_id}/readiness")).json()
                assert report["overrides"][0]["actor"] == "ops"
            finally:
                await rec.stop()


async def _seed_ready(url: str, *, ready: bool) -> str:
    clock = ManualClock(time.time())
    async with ready_container(url, clock) as c:
        d = await scheduled_drop(c)
        if ready:
            await count_it(c, d)
            assert (await c.rehearsals.run(d.drop_id, actor="cli"))["status"] == "passed"
        return d.drop_id


async def _ops_key(url: str) -> str:
    async with ready_container(url, ManualClock(time.time())) as c:
        return (await c.access.create_key("cli", "ops"))[0]


@contextmanager
def _server(settings: Settings) -> Iterator[str]:
    """The API over real HTTP on 127.0.0.1 (uvicorn in a thread); yields its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_ready_command_exits_non_zero_while_blocked(sqlite_url: str) -> None:
    """`dropline drops ready` (issue 20's name) and `dropline ready` (its alias) ask
    the running server, whose settings (here its returns policy) the gate checks."""
    blocked = asyncio.run(_seed_ready(sqlite_url, ready=False))
    ready = asyncio.run(_seed_ready(sqlite_url, ready=True))
    key = asyncio.run(_ops_key(sqlite_url))
    settings = Settings(database_url=sqlite_url, **(READY_SETTINGS | {"readiness_gate": "enforce"}))
    runner = CliRunner()
    with _server(settings) as url:
        env = {"COLUMNS": "200", "DROPLINE_URL": url, "DROPLINE_OPS_KEY": key,
               "DROPLINE_RETURNS_POLICY": ""}  # fmt: skip
        for command in (["drops", "ready"], ["ready"]):
            out = runner.invoke(cli, [*command, blocked], env=env)
            assert out.exit_code == 1, out.output
            assert "Counted within 48 h" in out.output and "verdict: block" in out.output
            assert "(gate: enforce)" in out.output
            # the server's returns policy passes, though this shell has none
            out = runner.invoke(cli, [*command, ready, "--json"], env=env)
            assert out.exit_code == 0, out.output  # warnings (dev secrets) do not block
            assert '"verdict": "warn"' in out.output
            out = runner.invoke(cli, [*command, "drp_nope"], env=env)
            assert out.exit_code == 1 and "not_found" in out.output
        out = runner.invoke(cli, ["drops", "ready", ready], env={**env, "DROPLINE_OPS_KEY": ""})
        assert out.exit_code == 1 and "no_key" in out.output


async def test_readiness_panel_in_the_ui(database_url: str, clock: ManualClock) -> None:
    async with ready_container(database_url, clock, readiness_gate="enforce") as c:
        d = await scheduled_drop(c)
        rec, endpoint_id = await warehouse(c)
        key, _ = await c.access.create_key("ops", "ops")
        app = create_app(container=c)
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://testserver"
                ) as http,
            ):
                form = await http.get("/ui/login")
                token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
                await http.post("/ui/login", data={"api_key": key, "csrf_token": token})
                page = await http.get(f"/ui/drops/{d.drop_id}/readiness")
                assert page.status_code == 200
                assert 'data-item="counted"' in page.text and "verdict-block" in page.text
                assert "<script>" not in page.text  # the pages' CSP allows no inline script
                csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
                r = await http.post(
                    f"/ui/drops/{d.drop_id}/readiness/test/{endpoint_id}", data={"csrf_token": csrf}
                )
                assert r.status_code == 303 and "answered%20200" in r.headers["location"]
                r = await http.post(
                    f"/ui/drops/{d.drop_id}/readiness/go-live", data={"csrf_token": csrf}
                )
                assert "level=error" in r.headers["location"]
                # the monitor's Go live, refused, goes to this panel with the reason
                r = await http.post(
                    f"/ui/drops/{d.drop_id}/transition", data={"csrf_token": csrf, "to": "live"}
                )
                assert r.status_code == 303
                assert r.headers["location"].startswith(f"/ui/drops/{d.drop_id}/readiness?")
                assert "not%20ready" in r.headers["location"]
                r = await http.post(f"/ui/drops/{d.drop_id}/rehearse", data={"csrf_token": csrf})
                assert r.status_code == 303 and "passed" in r.headers["location"]
                page = await http.get(f"/ui/drops/{d.drop_id}/readiness")
                assert "hand_off" in page.text and "hold_p50_ms" in page.text
                r = await http.post(
                    f"/ui/drops/{d.drop_id}/readiness/go-live",
                    data={"csrf_token": csrf, "override_reason": "paper count"},
                )
                assert r.status_code == 303 and "now%20live" in r.headers["location"]
            assert (await c.drops.get(d.drop_id))[0].status is DropStatus.LIVE
        finally:
            await rec.stop()


async def test_an_overdue_launch_milestone_blocks(container: Container, clock: ManualClock) -> None:
    from datetime import UTC, datetime, timedelta

    from dropline.domain.planning.template import Step

    c = container
    shop = await seed_shop(c, units=2, live=False)
    today = datetime.fromtimestamp(clock.now(), UTC).date()
    await c.launches.create(
        "Spring hoodie",
        stream_date=today + timedelta(days=10),
        start_date=today,
        buffer_days=1,
        actor="ann",
        drop_id=shop.drop_id,
        milestones=[Step("samples", "Approve samples", 2, owner="ann")],
    )
    on_time = next(
        i
        for i in (await c.readiness.checklist(shop.drop_id))["items"]
        if i["id"] == "launch_timeline"
    )
    assert on_time["status"] == "pass" and "Spring hoodie" in on_time["evidence"]
    clock.advance(9.5 * 86400)  # past the milestone's latest finish, still before the stream
    late = next(
        i
        for i in (await c.readiness.checklist(shop.drop_id))["items"]
        if i["id"] == "launch_timeline"
    )
    assert late["status"] == "block" and "Approve samples (ann" in late["evidence"]


async def test_the_gate_is_enforced_by_default(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing set (a fresh clone, a deployment that forgot it): enforce. The suite
    itself runs with DROPLINE_READINESS_GATE=advise (tests/conftest.py)."""
    monkeypatch.delenv("DROPLINE_READINESS_GATE", raising=False)
    settings = Settings(database_url=sqlite_url, background_tasks=False)
    assert settings.readiness_gate == "enforce"
    c = await build(settings)
    try:
        shop = await seed_shop(c, units=3, live=False)
        await c.drops.transition(shop.drop_id, DropStatus.SCHEDULED, actor="ann")
        with pytest.raises(NotReady):
            await c.drops.transition(shop.drop_id, DropStatus.LIVE, actor="ann")
        assert (await c.readiness.checklist(shop.drop_id))["gate"] == "enforce"
    finally:
        await c.close()


async def _start_blocked_events(c: Container, drop_id: str) -> list[dict[str, object]]:
    async with c.uow(readonly=True) as uow:
        return await uow.outbox.list(type_prefix=START_BLOCKED, aggregate_id=drop_id)


async def test_a_blocked_scheduled_start_stays_scheduled_and_says_why(
    database_url: str, clock: ManualClock
) -> None:
    async with ready_container(database_url, clock, readiness_gate="enforce") as c:
        d = await scheduled_drop(c)
        await c.drops.edit(d.drop_id, starts_at=clock.now() + 60)
        schedule = DropSchedule(c.drops)
        assert await schedule.run_once() == []  # not due yet
        clock.advance(61)
        # due, refused by the gate; two workers refused at the same moment write the
        # refusal once
        other = DropSchedule(c.drops)
        assert await asyncio.gather(schedule.run_once(), other.run_once()) == [[], []]
        assert (await c.drops.get(d.drop_id))[0].status is DropStatus.SCHEDULED
        [event] = await _start_blocked_events(c, d.drop_id)
        assert {b["id"] for b in event["payload"]["blocks"]} >= {"counted", "rehearsal"}
        # the next passes: not tried again before BLOCKED_RETRY_S, then refused again
        # without repeating the history
        assert await schedule.run_once() == []
        clock.advance(BLOCKED_RETRY_S + 1)
        assert await schedule.run_once() == []
        assert len(await _start_blocked_events(c, d.drop_id)) == 1
        clock.advance(61)
        # due, refused by the gate; two workers refused at the same moment write the
        # refusal once
        other = DropSchedule(c.drops)
        assert await asyncio.gather(schedule.run_once(), other.run_once()) == [[], []]
        assert (await c.drops.get(d.drop_id))[0].status is DropStatus.SCHEDULED
        # the monitor and the readiness report say why the drop is not live
        snap = await c.monitor.snapshot(d.drop_id)
        assert snap["drop"]["status"] == "scheduled"
        assert "not ready" in snap["drop"]["start_blocked"]["detail"]
        assert snap["alerts"][0]["kind"] == "start_blocked"
        assert "scheduled start did not happen" in snap["alerts"][0]["message"]
        report = await c.readiness.checklist(d.drop_id)
        assert any(b["id"] == "counted" for b in report["start_blocked"]["blocks"])
        # an operator overrides: live, and the refusal no longer stands
        await c.drops.transition(
            d.drop_id, DropStatus.LIVE, actor="ann", override_reason="counted on paper"
        )
        assert (await c.readiness.checklist(d.drop_id))["start_blocked"] is None
        snap = await c.monitor.snapshot(d.drop_id)
        assert snap["drop"]["start_blocked"] is None
        assert all(a["kind"] != "start_blocked" for a in snap["alerts"])


async def test_a_scheduled_start_goes_live_once_nothing_blocks(
    database_url: str, clock: ManualClock
) -> None:
    async with ready_container(database_url, clock, readiness_gate="enforce") as c:
        d = await scheduled_drop(c)
        rec, endpoint_id = await warehouse(c)
        try:
            await c.drops.edit(d.drop_id, starts_at=clock.now() + 60)
            clock.advance(61)
            schedule = DropSchedule(c.drops)
            assert await schedule.run_once() == []
            await count_it(c, d)
            await c.readiness.send_test_delivery(endpoint_id, "ann")
            assert (await c.rehearsals.run(d.drop_id, actor="ann"))["status"] == "passed"
            clock.advance(BLOCKED_RETRY_S + 1)
            assert await schedule.run_once() == [(d.drop_id, DropStatus.LIVE)]
            assert (await c.readiness.checklist(d.drop_id))["overrides"] == []
        finally:
            await rec.stop()

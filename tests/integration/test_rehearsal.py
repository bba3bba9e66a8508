"""The dress rehearsal on both backends, with a real local HTTP receiver as the
warehouse: the whole line passes with a verdict per stage and timings, its hand-off
payloads are signed and flagged as a test, it cleans up so nothing of it shows in real
lists, stock levels or buyer limits; a failing warehouse endpoint fails it at the
hand-off by name; a live drop is refused; Stripe test mode through localstripe; live
keys without a test key; the API and the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from dropline.api.app import create_app
from dropline.cli.app import app as cli
from dropline.domain.errors import Conflict
from dropline.domain.live.drops import DropStatus
from dropline.services.ports import ManualClock
from prod_support import STRIPE_KEY, card, localstripe
from readiness_support import ready_container, scheduled_drop, warehouse
from support import sku_item

pytestmark = pytest.mark.filterwarnings(
    "ignore:Use 'content=<...>' to upload raw bytes/text content:DeprecationWarning"
)


def _stages(result: dict[str, object]) -> dict[str, str]:
    return {s["stage"]: s["status"] for s in result["stages"]}  # type: ignore[attr-defined]


async def test_the_whole_line_passes_and_leaves_nothing_behind(
    database_url: str, clock: ManualClock
) -> None:
    async with ready_container(database_url, clock) as c:
        d = await scheduled_drop(c)
        rec, _ = await warehouse(c)
        real_before = await c.stock.level(d.sku_id)
        try:
            result = await c.rehearsals.run(d.drop_id, actor="ann")
            await c.webhooks.run_once()  # what a worker would still send afterwards
        finally:
            await rec.stop()
        assert result["status"] == "passed", result["stages"]
        # Every event of the rehearsal that reached the warehouse says it is a test.
        assert rec.received and all(r.json["data"]["test"] is True for r in rec.received)
        assert _stages(result) == {
            "setup": "pass",
            "holds": "pass",
            "payments": "pass",
            "decline": "pass",
            "three_d_secure": "pass",
            "hand_off": "pass",
            "cancellation": "pass",
            "tracking": "pass",
            "return": "pass",
            "report": "pass",
            "cleanup": "pass",
        }
        holds = next(s for s in result["stages"] if s["stage"] == "holds")
        assert "7 buyers at once: 6 holds, 1 sold out" in holds["detail"]
        assert set(result["timings"]) == {
            "hold_p50_ms",
            "hold_p99_ms",
            "checkout_p50_ms",
            "checkout_p99_ms",
            "hand_off_p50_s",
            "hand_off_max_s",
        }
        # Every hand-off reached the warehouse signed and flagged as a test.
        ready = [r for r in rec.received if r.json["type"] == "order.ready_to_fulfill"]
        assert len(ready) == 6 and all(r.verified_with for r in ready)
        assert all(r.json["data"]["test"] is True for r in ready)
        assert {r.json["data"]["rehearsal_of"] for r in ready} == {d.drop_id}
        paid = [r for r in rec.received if r.json["type"] == "order.paid"]
        assert paid and all(r.json["data"]["test"] is True for r in paid)

        # Nothing of it shows in real lists, stock levels or the real drop.
        copy, sku = str(result["copy_drop_id"]), str(result["sku_id"])
        assert copy not in {x.id for x in await c.drops.list_drops()}
        assert (await c.drops.get(copy))[0].status is DropStatus.ENDED
        assert sku not in await c.stock.levels()
        assert (await c.stock.level(sku)).on_hand == 0
        assert sku not in {s.id for _, skus in await c.catalog.list_products() for s in skus}
        async with c.uow(readonly=True) as uow:
            listed = await uow.orders.list_orders(limit=1000)
            assert not [o for o in listed if o.drop_id == copy]
            assert len(await uow.orders.list_orders(copy, limit=1000)) == 6  # kept as evidence
            assert await uow.drops.buyer_taken(d.drop_id) == {}
        assert await c.stock.level(d.sku_id) == real_before
        assert all(ch.consistent for ch in await c.stock.verify())
        assert await c.bins.verify() == []
        # A real buyer of the real drop is not limited by anything the rehearsal did.
        await c.drops.transition(d.drop_id, DropStatus.LIVE, actor="ann")
        hold = await c.holds.place(d.drop_id, "rehearsal-buyer", [sku_item(d.sku_id, 2)])
        assert hold.units == {d.sku_id: 2}


async def test_a_failing_warehouse_endpoint_fails_the_hand_off_by_name(
    database_url: str, clock: ManualClock
) -> None:
    async with ready_container(database_url, clock) as c:
        d = await scheduled_drop(c)
        rec, _ = await warehouse(c, status=500)
        try:
            result = await c.rehearsals.run(d.drop_id, actor="ann")
        finally:
            await rec.stop()
        assert result["status"] == "failed" and result["failed_stage"] == "hand_off"
        hand_off = next(s for s in result["stages"] if s["stage"] == "hand_off")
        assert rec.url in hand_off["detail"] and "answered 500" in hand_off["detail"]
        stages = _stages(result)
        assert "cancellation" not in stages and stages["cleanup"] == "pass"
        assert (await c.stock.level(str(result["sku_id"]))).on_hand == 0
        assert (await c.drops.get(str(result["copy_drop_id"])))[0].status is DropStatus.ENDED
        async with c.uow(readonly=True) as uow:
            orders = await uow.orders.list_orders(str(result["copy_drop_id"]), limit=100)
            left = await uow.readiness.deliveries_for(
                [o.id for o in orders], "order.ready_to_fulfill"
            )
        assert {o.status.value for o in orders} == {"refunded"}  # paid orders cancelled
        assert {x["status"] for x in left} == {"dead"}  # nothing keeps retrying the warehouse
        gate = {i["id"]: i for i in (await c.readiness.checklist(d.drop_id))["items"]}
        assert gate["rehearsal"]["status"] == "block"
        assert "failed at hand_off" in gate["rehearsal"]["evidence"]


async def test_a_live_drop_or_a_copy_is_not_rehearsed(
    database_url: str, clock: ManualClock
) -> None:
    async with ready_container(database_url, clock) as c:
        d = await scheduled_drop(c)
        result = await c.rehearsals.run(d.drop_id, actor="ann")  # no warehouse: skipped
        assert result["status"] == "passed" and _stages(result)["hand_off"] == "skip"
        with pytest.raises(Conflict):
            await c.rehearsals.run(str(result["copy_drop_id"]))
        await c.drops.transition(d.drop_id, DropStatus.LIVE, actor="ann")
        key, _ = await c.access.create_key("ops", "ops")
        app = create_app(container=c)
        app.state.container = c
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
        ) as api:
            r = await api.post(f"/v1/drops/{d.drop_id}/rehearsals")
            assert r.status_code == 409 and r.json()["code"] == "conflict"
            assert (await api.post("/v1/drops/drp_nope/rehearsals")).status_code == 404
            history = (await api.get(f"/v1/drops/{d.drop_id}/rehearsals")).json()
            assert [h["id"] for h in history] == [result["id"]]
            assert (await api.get("/v1/drops/drp_nope/rehearsals")).status_code == 404


@pytest.fixture(scope="module")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with localstripe(tmp_path_factory.mktemp("localstripe")) as url:
        yield url


async def test_stripe_test_mode_through_localstripe(
    database_url: str, clock: ManualClock, localstripe_url: str
) -> None:
    """localstripe knows pm_card_visa but not Stripe's declined and 3-D Secure test
    methods, so those roles are configured with its own test cards (as a deployment may
    configure DROPLINE_TEST_PAYMENT_METHODS); it has no browser, so the challenge is
    reached and left to expire."""
    methods = {
        "decline": await card(localstripe_url, "4000000000000341"),
        "three_d_secure": await card(localstripe_url, "4000000000003220"),
    }
    async with ready_container(
        database_url,
        clock,
        payment_provider="stripe",
        stripe_api_key=STRIPE_KEY,
        stripe_api_base=localstripe_url,
        stripe_no_redirects=False,
        test_payment_methods=methods,
    ) as c:
        d = await scheduled_drop(c)
        rec, _ = await warehouse(c)
        try:
            result = await c.rehearsals.run(d.drop_id, actor="ann")
        finally:
            await rec.stop()
        assert result["status"] == "passed", result["stages"]
        three_ds = next(s for s in result["stages"] if s["stage"] == "three_d_secure")
        assert "asked for 3-D Secure" in three_ds["detail"]
        gate = {i["id"]: i for i in (await c.readiness.checklist(d.drop_id))["items"]}
        assert gate["payments"]["status"] == "pass" and "stripe" in gate["payments"]["evidence"]


async def test_live_keys_without_a_test_key_fail_at_payments(
    sqlite_url: str, clock: ManualClock
) -> None:
    async with ready_container(
        sqlite_url, clock, payment_provider="stripe", stripe_api_key="sk_live_not_real"
    ) as c:
        d = await scheduled_drop(c)
        result = await c.rehearsals.run(d.drop_id, actor="ann")
        assert result["failed_stage"] == "payments"
        payments = next(s for s in result["stages"] if s["stage"] == "payments")
        assert "DROPLINE_STRIPE_TEST_API_KEY" in payments["detail"]
        assert (await c.stock.level(str(result["sku_id"]))).on_hand == 0


async def _scheduled(url: str) -> str:
    async with ready_container(url, ManualClock()) as c:
        return (await scheduled_drop(c)).drop_id


def test_rehearse_command(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    drop_id = asyncio.run(_scheduled(sqlite_url))
    monkeypatch.setenv("DROPLINE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("DROPLINE_REHEARSAL_BUYERS", "4")
    monkeypatch.setenv("DROPLINE_REHEARSAL_TRACKING_WAIT_S", "0")
    runner = CliRunner()
    out = runner.invoke(cli, ["rehearse", drop_id], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "rehearsal passed" in out.output and "hold_p50_ms" in out.output
    monkeypatch.setenv("DROPLINE_TEST_PAYMENT_METHODS", '{"ok": "4242424242424242"}')
    out = runner.invoke(cli, ["rehearse", drop_id])
    assert out.exit_code == 1 and "not a card number" in out.output
    monkeypatch.delenv("DROPLINE_TEST_PAYMENT_METHODS")
    monkeypatch.setenv("DROPLINE_PAYMENT_PROVIDER", "stripe")
    monkeypatch.setenv("DROPLINE_STRIPE_API_KEY", "sk_live_not_real")
    out = runner.invoke(cli, ["rehearse", drop_id])
    assert out.exit_code == 1 and "failed at payments" in out.output

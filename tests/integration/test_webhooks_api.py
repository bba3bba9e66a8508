"""The webhook endpoints resource and the delivery log over HTTP, and the replay CLI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.services.ports import ManualClock
from fulfilment_support import paid_order
from support import seed_shop


@pytest.fixture
async def admin(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=container)
    app.state.container = container
    key, _ = await container.access.create_key("admin", "admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {key}"},
    ) as client:
        yield client


async def test_endpoint_lifecycle(container: Container, admin: httpx.AsyncClient) -> None:
    r = await admin.post(
        "/v1/webhook-endpoints",
        json={
            "url": "https://wms.example/in",
            "event_types": ["order.*"],
            "description": "3PL",
            "warehouse": True,
        },
    )
    assert r.status_code == 201, r.text
    ep = r.json()
    assert ep["secret"].startswith("whsec_") and ep["enabled"] is True
    assert ep["warehouse"] is True
    got = (await admin.get(f"/v1/webhook-endpoints/{ep['id']}")).json()
    assert got["secret"] is None  # shown once only
    r = await admin.patch(f"/v1/webhook-endpoints/{ep['id']}", json={"enabled": False})
    assert r.json()["enabled"] is False and r.json()["disabled_reason"]
    r = await admin.post(f"/v1/webhook-endpoints/{ep['id']}/rotate-secret", json={"overlap_s": 60})
    assert r.json()["secret"] not in (None, ep["secret"])
    assert r.json()["previous_secret_expires_at"] is not None
    bad = await admin.post(
        "/v1/webhook-endpoints", json={"url": "ftp://x", "event_types": ["order.*"]}
    )
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    bad = await admin.post(
        "/v1/webhook-endpoints", json={"url": "https://x.example", "event_types": ["Order"]}
    )
    assert bad.status_code == 422
    assert (await admin.delete(f"/v1/webhook-endpoints/{ep['id']}")).status_code == 204
    assert (await admin.get(f"/v1/webhook-endpoints/{ep['id']}")).status_code == 404
    assert (await admin.get("/v1/webhook-endpoints")).json() == []


async def test_storefront_key_cannot_manage_endpoints(
    container: Container, admin: httpx.AsyncClient
) -> None:
    key, _ = await container.access.create_key("shop", "storefront")
    r = await admin.get("/v1/webhook-endpoints", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 403


async def test_delivery_log_and_replay_over_http(
    container: Container, admin: httpx.AsyncClient, clock: ManualClock
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    # Nothing listens on this port: every attempt fails with a connection error.
    ep = await c.webhooks.create_endpoint("http://127.0.0.1:9/hooks", ["order.paid"])
    await paid_order(c, shop, "ann")
    await c.webhooks.run_once()
    [d] = (await admin.get("/v1/webhook-deliveries", params={"status": "failed"})).json()
    detail = (await admin.get(f"/v1/webhook-deliveries/{d['id']}")).json()
    assert detail["attempt_log"][0]["status_code"] is None
    assert detail["attempt_log"][0]["error"]
    r = await admin.post(
        "/v1/webhook-deliveries/replay",
        json={"since": "2000-01-01T00:00:00Z", "endpoint_id": ep["id"]},
    )
    assert r.json() == {"replayed": 1}
    r = await admin.post(f"/v1/webhook-deliveries/{d['id']}/replay")
    assert r.json()["status"] == "pending" and r.json()["attempts"] == 0
    assert (await admin.post("/v1/webhook-deliveries/whd_nope/replay")).status_code == 404
    bad = await admin.get("/v1/webhook-deliveries", params={"status": "lost"})
    assert bad.status_code == 422


def test_replay_cli(sqlite_url: str, clock: ManualClock, tmp_path: Path) -> None:
    from dropline.bootstrap import build
    from dropline.cli.app import app
    from dropline.config import Settings

    async def setup() -> str:
        c = await build(Settings(database_url=sqlite_url, background_tasks=False), clock=clock)
        try:
            shop = await seed_shop(c, units=5)
            await c.webhooks.create_endpoint("http://127.0.0.1:9/hooks", ["order.paid"])
            await paid_order(c, shop, "bo")
            await c.webhooks.run_once()
            [d] = await c.webhooks.list_deliveries()
            assert d["status"] == "failed"
            return str(d["id"])
        finally:
            await c.close()

    delivery_id = asyncio.run(setup())
    env = {"DROPLINE_DATABASE_URL": sqlite_url}
    runner = CliRunner()
    r = runner.invoke(app, ["webhooks", "replay", "--since", "2000-01-01T00:00:00Z"], env=env)
    assert r.exit_code == 0 and "queued 1 failed/dead" in r.output
    r = runner.invoke(app, ["webhooks", "replay", "--delivery", delivery_id], env=env)
    assert r.exit_code == 0 and delivery_id in r.output
    r = runner.invoke(app, ["webhooks", "replay"], env=env)
    assert r.exit_code == 2
    r = runner.invoke(app, ["webhooks", "replay", "--delivery", "whd_nope"], env=env)
    assert r.exit_code == 1 and "whd_nope not found" in r.output

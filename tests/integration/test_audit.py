"""The audit trail: one change of everything an operator can change, made with an admin
key over the API, each found once in ``GET /v1/audit`` with its actor, action, resource
and before/after; buyers' holds leave no row; filters and paging; rows are
append-only (PostgreSQL refuses UPDATE and DELETE). SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from dropline.bootstrap import Container
from prod_support import app_for


@pytest.fixture
async def admin(container: Container) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    raw, rec = await container.access.create_key("ops lead", "admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_for(container)),
        base_url="http://test",
        headers={"Authorization": f"Bearer {raw}"},
    ) as client:
        yield client, rec.id, raw


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.content else None


async def test_one_change_of_everything_is_one_audit_row_each(
    container: Container, admin: tuple[httpx.AsyncClient, str, str]
) -> None:
    http, key_id, _ = admin
    c = container
    product = ok(await http.post("/v1/products", json={"name": "Tee"}), 201)
    sku = ok(
        await http.post(
            f"/v1/products/{product['id']}/skus",
            json={"code": "AUD-1", "price": {"amount": 2500, "currency": "USD"}},
        ),
        201,
    )["id"]
    ok(await http.post(f"/v1/stock/{sku}/receipts", json={"quantity": 10}), 201)
    ok(await http.put(f"/v1/stock/{sku}/safety", json={"quantity": 1}))
    bundle = ok(
        await http.post(
            "/v1/bundles",
            json={
                "code": "AUD-B",
                "name": "Pair",
                "price": {"amount": 4000, "currency": "USD"},
                "components": [{"sku_id": sku, "quantity": 2}],
            },
        ),
        201,
    )["id"]
    drop = ok(await http.post("/v1/drops", json={"name": "Audit", "currency": "USD"}), 201)["id"]
    ok(await http.put(f"/v1/drops/{drop}/offers/{sku}", json={"quantity": 5}))
    ok(await http.post(f"/v1/drops/{drop}/bundles", json={"bundle_id": bundle}), 201)
    ok(await http.post(f"/v1/drops/{drop}/transitions", json={"to": "scheduled"}))
    ok(await http.post(f"/v1/drops/{drop}/transitions", json={"to": "live"}))
    ok(await http.post(f"/v1/drops/{drop}/skus/{sku}/pause"))
    ok(await http.put(f"/v1/drops/{drop}/monitor-settings", json={"low_stock_default": 2}))
    new_key = ok(await http.post("/v1/api-keys", json={"name": "site", "scope": "storefront"}), 201)
    ok(await http.delete(f"/v1/api-keys/{new_key['id']}"), 204)
    endpoint = ok(
        await http.post(
            "/v1/webhook-endpoints",
            json={"url": "https://wms.example/hooks", "event_types": ["order.*"]},
        ),
        201,
    )["id"]
    ok(await http.patch(f"/v1/webhook-endpoints/{endpoint}", json={"description": "WMS"}))
    ok(await http.delete(f"/v1/webhook-endpoints/{endpoint}"), 204)
    # Refused changes leave nothing (the transaction rolled back).
    assert (await http.post(f"/v1/drops/{drop}/transitions", json={"to": "draft"})).status_code
    # A buyer's hold is buyer traffic (the ledger's), not an operator's change.
    await c.drops.pause_sku(drop, sku, False)  # no actor: background/CLI work, no row
    store, _ = await c.access.create_key("store", "storefront")
    hold = await http.post(
        f"/v1/drops/{drop}/holds",
        json={"items": [{"sku_id": sku, "quantity": 1}]},
        headers={"Authorization": f"Bearer {store}", "X-Buyer-Token": c.access.mint("b1")},
    )
    assert hold.status_code == 201, hold.text

    page = ok(await http.get("/v1/audit", params={"limit": 200}))
    entries = page["entries"]
    assert page["next_before"] is None
    actions = Counter(e["action"] for e in entries)
    expected = {
        "product.created": 1,
        "sku.created": 1,
        "stock.changed": 1,  # the receipt
        "sku.safety_set": 1,
        "bundle.created": 1,
        "drop.created": 1,
        "drop.offer_changed": 1,
        "drop.bundle_added": 1,
        "drop.scheduled": 1,
        "drop.live": 1,
        "drop.sku_paused": 1,
        "drop.monitor_settings_changed": 1,
        "key.created": 1,
        "key.revoked": 1,
        "webhook_endpoint.created": 1,
        "webhook_endpoint.updated": 1,
        "webhook_endpoint.deleted": 1,
    }
    # Moving stock into the drop's offer is its own stock change of the SKU.
    assert {a: actions[a] for a in expected} == expected, actions
    assert set(actions) - set(expected) <= {"stock.changed"}, actions
    assert not any(e["action"].startswith("hold.") for e in entries)
    assert "drop.sku_resumed" not in actions  # made without an actor
    assert {(e["actor"]["kind"], e["actor"]["id"], e["actor"]["name"]) for e in entries} == {
        ("key", key_id, "ops lead")
    }
    assert all(e["request_id"] for e in entries)
    by_action = {e["action"]: e for e in entries}
    assert by_action["drop.sku_paused"]["resource"] == {"type": "drop", "id": drop}
    updated = by_action["webhook_endpoint.updated"]
    assert updated["before"]["description"] == "" and updated["after"]["description"] == "WMS"
    assert "secret" not in updated["after"]
    settings = by_action["drop.monitor_settings_changed"]
    assert (settings["before"]["low_stock_default"], settings["after"]["low_stock_default"]) == (
        5,
        2,
    )
    assert by_action["key.created"]["after"] == {"name": "site", "scope": "storefront"}

    # Filters and paging.
    drops = ok(await http.get("/v1/audit", params={"action": "drop.", "limit": 200}))["entries"]
    assert {e["action"] for e in drops} == {a for a in expected if a.startswith("drop.")}
    mine = ok(await http.get("/v1/audit", params={"resource_id": endpoint}))["entries"]
    assert [e["action"] for e in mine] == [
        "webhook_endpoint.deleted",
        "webhook_endpoint.updated",
        "webhook_endpoint.created",
    ]
    first = ok(await http.get("/v1/audit", params={"limit": 3}))
    second = ok(await http.get("/v1/audit", params={"limit": 3, "before": first["next_before"]}))
    ids = [e["id"] for e in first["entries"] + second["entries"]]
    assert ids == [e["id"] for e in entries[:6]]
    # Admin only.
    ops, _ = await c.access.create_key("ops", "ops")
    r = await http.get("/v1/audit", headers={"Authorization": f"Bearer {ops}"})
    assert r.status_code == 403


async def test_audit_rows_are_append_only(
    container: Container, admin: tuple[httpx.AsyncClient, str, str]
) -> None:
    http, _, _ = admin
    ok(await http.post("/v1/products", json={"name": "Tee"}), 201)
    if not container.settings.database_url.startswith("postgresql"):
        pytest.skip("the trigger is PostgreSQL's; SQLite has no path to change a row either")
    for sql in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            async with container.db.begin() as conn:
                await conn.execute(text(sql))
    async with container.db.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM audit_log")) == 1


async def test_a_ui_login_is_the_actor_and_the_audit_page_lists_it(container: Container) -> None:
    from support import seed_shop

    c = container
    shop = await seed_shop(c, units=3)
    sku = shop.skus[0]
    raw, rec = await c.access.create_key("floor manager", "admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_for(c)), base_url="http://testserver"
    ) as ui:
        form = await ui.get("/ui/login")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        assert (
            await ui.post("/ui/login", data={"api_key": raw, "csrf_token": token})
        ).status_code == 303
        drop_page = await ui.get(f"/ui/drops/{shop.drop_id}")
        csrf = drop_page.text.split('name="csrf_token" value="')[1].split('"')[0]
        r = await ui.post(f"/ui/drops/{shop.drop_id}/skus/{sku}/pause", data={"csrf_token": csrf})
        assert r.status_code == 303
        page = await ui.get("/ui/audit", params={"action": "drop.sku_paused"})
        assert page.status_code == 200
        assert "drop.sku_paused" in page.text and "floor manager" in page.text
        assert "drop.created" not in page.text  # filtered out (and made with no actor)
    rows, _ = await c.audit.list()
    assert [(r.action, r.actor_kind, r.actor_id) for r in rows] == [
        ("drop.sku_paused", "user", rec.id)
    ]

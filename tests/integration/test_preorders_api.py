"""The production, QC and pre-order endpoints over HTTP (the ASGI app in process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from dropline.api.app import create_app
from dropline.bootstrap import Container
from preorders_support import SPEC, VISA, now, seed_run
from support import sku_item

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
async def api(container: Container, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    container.qc_trace.data_dir = tmp_path / "data"
    app = create_app(container=container)
    app.state.container = container
    raw, _ = await container.access.create_key("ops", "ops")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {raw}"},
    ) as client:
        yield client


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


async def test_run_spec_lot_gate_and_preorder_over_http(
    api: httpx.AsyncClient, container: Container, tmp_path: Path
) -> None:
    c = container
    product = await c.catalog.create_product("Hoodie")
    sku = await c.catalog.create_sku(product.id, "HOOD-API", 2500, "USD", {})
    r = await api.post("/v1/manufacturers", json={"name": "Knit Co", "sample_approver": "Dana"})
    assert r.status_code == 201
    mfr = r.json()["id"]
    run_body = {
        "manufacturer_id": mfr,
        "name": "Batch 1",
        "currency": "USD",
        "lines": [{"sku_id": sku.id, "quantity": 80, "moq": 100}],
    }
    r = await api.post("/v1/runs", json=run_body)
    assert r.status_code == 409 and r.json()["code"] == "below_moq"
    assert r.json()["shortfall"] == {"per_sku": {sku.id: 20}, "run": 0}
    r = await api.post(
        "/v1/qc/specs", json={"product_id": product.id, "name": "v1", "content": SPEC}
    )
    assert r.status_code == 201
    spec_id = r.json()["spec_id"]
    r = await api.post(f"/v1/qc/specs/{spec_id}/versions/1/golden-samples", json={})
    r = await api.post(f"/v1/qc/golden-samples/{r.json()['id']}/approve", json={"note": "ok"})
    assert r.status_code == 200
    run_body |= {"moq_override_reason": "pilot", "qc_spec": {"spec_id": spec_id, "version": 1}}
    r = await api.post("/v1/runs", json=run_body)
    assert r.status_code == 201
    run_id = r.json()["id"]
    intake = now(c) + timedelta(days=10)
    r = await api.patch(
        f"/v1/runs/{run_id}/milestones/warehouse_intake", json={"planned_at": iso(intake)}
    )
    assert r.status_code == 200
    r = await api.patch(
        f"/v1/runs/{run_id}/milestones/warehouse_intake",
        json={"planned_at": iso(intake + timedelta(days=1))},
    )
    assert r.status_code == 422 and r.json()["code"] == "validation_error"  # needs a reason
    drop = await c.drops.create("Pre drop", "USD")
    r = await api.put(
        f"/v1/drops/{drop.id}/preorders/{sku.id}",
        json={"run_id": run_id, "cap": 10, "closes_at": iso(now(c) + timedelta(days=2))},
    )
    assert r.status_code == 200, r.text
    assert r.json()["ship_estimate"]["latest"] == iso(intake + timedelta(days=5))
    from dropline.domain.live.drops import DropStatus

    await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    await c.drops.transition(drop.id, DropStatus.LIVE)
    hold = await c.holds.place(drop.id, "ann", [sku_item(sku.id, 2)])
    order = (await c.checkout.start(hold.id, "ann", VISA)).order
    assert order is not None
    r = await api.patch(
        f"/v1/runs/{run_id}/milestones/warehouse_intake",
        json={"planned_at": iso(intake + timedelta(days=40)), "reason": "strike at port"},
    )
    assert r.status_code == 200
    r = await api.get(f"/v1/preorders/{order.id}")
    body = r.json()
    assert body["consent"] == "required"
    notice = body["notices"][-1]["payload"]
    assert notice["reason"] == "strike at port"
    consent_path = notice["consent_url"].split("://", 1)[1].split("/", 1)[1]
    page = await api.get("/" + consent_path, headers={"Authorization": ""})
    assert page.status_code == 200 and "<form" in page.text
    assert (await c.preorders.get(order.id)).consent == "required"  # opening changed nothing
    r = await api.post("/" + consent_path, headers={"Authorization": ""})
    assert r.status_code == 200 and r.json()["consent"] == "given"
    r = await api.post("/" + consent_path.replace("consent?", "cancel?"))
    assert r.status_code == 403 and r.json()["code"] == "invalid_token"
    # Receive, inspect with a photo, sign off: the pre-order is allocated.
    r = await api.post(
        f"/v1/runs/{run_id}/lots", json={"sku_id": sku.id, "quantity": 80, "batch_number": "B1"}
    )
    lot_id = r.json()["id"]
    assert (await c.stock.level(sku.id)).quality_control == 80
    r = await api.get(f"/v1/qc/lots/{lot_id}/plan")
    plans = {p["defect_class"]: p for p in r.json()["classes"]}
    # 80 units, level II → letter E; major AQL 2.5 is an arrow down to F: n 20, Ac 1.
    major = plans["major"]
    assert (major["code_letter"], major["plan_letter"], major["sample_size"]) == ("E", "F", 20)
    assert (major["accept"], major["reject"]) == (1, 2)
    # Critical AQL 0.065 at letter E: the arrow leads to n = 200 ≥ 80, so 100 %.
    assert plans["critical"]["hundred_percent"] and r.json()["sample_size"] == 80
    r = await api.post(f"/v1/qc/lots/{lot_id}/inspections", json={"defects": {"minor": 1}})
    assert r.status_code == 201 and r.json()["accepted"] is True
    ins_id = r.json()["id"]
    r = await api.post(
        f"/v1/qc/inspections/{ins_id}/photos?filename=seam.png&defect_class=minor",
        content=PNG,
        headers={"Content-Type": "image/png"},
    )
    assert r.status_code == 201
    assert (tmp_path / "data" / r.json()["path"]).read_bytes() == PNG
    r = await api.post(f"/v1/qc/inspections/{ins_id}/sign-off")
    assert r.json()["allocation"] == {order.id: 2, "available": 78}
    r = await api.get(f"/v1/qc/orders/{order.id}/trace")
    assert r.json()["lots"][0]["lot"]["id"] == lot_id
    assert r.json()["lots"][0]["inspections"][0]["photos"][0]["filename"] == "seam.png"
    r = await api.post(f"/v1/preorders/{order.id}/ship")
    assert r.json()["status"] == "shipped"
    r = await api.get(f"/v1/runs/{run_id}/milestones/history")
    assert [h["reason"] for h in r.json()] == ["first set", "strike at port"]


async def test_final_qc_after_the_intake_is_a_422_naming_both_milestones(
    api: httpx.AsyncClient, container: Container
) -> None:
    f = await seed_run(container, intake_days=20)
    path = f"/v1/runs/{f.run_id}/milestones/final_qc"
    r = await api.patch(path, json={"planned_at": iso(f.intake - timedelta(days=3))})
    assert r.status_code == 200, r.text
    r = await api.patch(
        path, json={"planned_at": iso(f.intake + timedelta(days=2)), "reason": "late inspector"}
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "milestone_out_of_order"
    assert (body["milestone"], body["must_precede"]) == ("final_qc", "warehouse_intake")
    assert "final_qc" in body["detail"] and "warehouse_intake" in body["detail"]
    r = await api.get(f"/v1/runs/{f.run_id}")
    [qc] = [m for m in r.json()["milestones"] if m["kind"] == "final_qc"]
    assert qc["planned_at"] == iso(f.intake - timedelta(days=3))  # unchanged

"""Buyer-reported problems on both backend profiles: from the signed link in the
delivered message to the refund, the photo and reason rules, another buyer's link, the
closed window, and a decline that reaches the buyer. Bad reports store nothing."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_returns import level, ship

from dropline.bootstrap import Container
from dropline.domain.errors import Forbidden, InvalidInput, InvalidToken
from dropline.services.aftersales.problems import PhotoUpload, ReportedLine
from dropline.services.ports import ManualClock
from fulfilment_support import paid_order
from support import seed_shop

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _photos_in_tmp(container: Container, tmp_path: Path) -> None:
    container.problems.data_dir = tmp_path / "data"


def photo(data: bytes = JPEG, content_type: str = "image/jpeg") -> dict[str, str]:
    return {"content_type": content_type, "data": base64.b64encode(data).decode()}


async def delivered(c: Container, buyer: str, qty: int = 2) -> Any:
    shop = await seed_shop(c, units=5)
    order = await paid_order(c, shop, buyer, qty)
    await ship(c, order.id)
    return shop, order


def link_token(text: str) -> str:
    m = re.search(r"/ui/report-problem\?token=([\w.\-]+)", text)
    assert m, text
    return m.group(1)


async def test_a_report_from_the_delivered_link_ends_in_a_refund(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    shop, order = await delivered(c, "ann")
    sku = shop.skus[0]
    [msg] = await c.messages.list(order_id=order.id, kind="delivered")
    token = link_token(msg["text_body"])
    assert "Report a problem" in msg["html_body"]

    form = await api.get("/v1/problem-links/report", params={"token": token}, headers={})
    assert form.status_code == 200, form.text
    assert form.json()["lines"][0]["quantity"] == 2
    assert {r["code"] for r in form.json()["reasons"]} >= {"stitching", "too_small"}

    body = {
        "lines": [{"line_no": 1, "quantity": 1}],
        "reason": "stitching",
        "note": "the seam split on first wear",
        "photos": [photo()],
    }
    resp = await api.post("/v1/problem-links/report", params={"token": token}, json=body)
    assert resp.status_code == 201, resp.text
    report = resp.json()
    assert (report["status"], report["via"], report["buyer_id"]) == ("open", "link", "ann")
    assert len(report["photos"]) == 1 and report["photos"][0]["size"] == len(JPEG)
    got = await api.get(f"/v1/problems/{report['id']}/photos/{report['photos'][0]['id']}")
    assert got.status_code == 200 and got.content == JPEG

    before = await level(c, sku)
    approved = (await api.post(f"/v1/problems/{report['id']}/approve")).json()
    assert approved["status"] == "approved" and approved["return_id"]
    ret = await c.returns.get(approved["return_id"])
    assert (ret.status, ret.refund_amount) == ("requested", 2500)
    assert ret.lines[0]["reason"] == "defective"

    received = await api.post(f"/v1/returns/{ret.id}/receive", json={})
    assert received.json()["status"] == "refunded"
    assert (await level(c, sku)).quality_control == before.quality_control + 1
    assert (await c.provider.retrieve(order.payment_id)).refunded_amount == 2500
    async with c.uow(readonly=True) as uow:
        defects = await uow.problems.defects(sku_id=sku)
    assert [(d["reason_code"], d["quantity"], d["photo_count"]) for d in defects] == [
        ("stitching", 1, 1)
    ]
    # Decided once: a second approval is a conflict and makes no second return.
    again = await api.post(f"/v1/problems/{report['id']}/approve")
    assert again.status_code == 409
    assert len(await c.returns.list_returns(order_id=order.id)) == 1


async def test_the_creator_site_reports_with_a_buyer_token(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    _, order = await delivered(c, "ann")
    store, _ = await c.access.create_key("store", "storefront")
    heads = {"Authorization": f"Bearer {store}", "X-Buyer-Token": c.access.mint("ann")}
    body = {"lines": [{"line_no": 1, "quantity": 2}], "reason": "too_small"}
    resp = await api.post(f"/v1/orders/{order.id}/problems", json=body, headers=heads)
    assert resp.status_code == 201, resp.text
    assert resp.json()["via"] == "api"
    reasons = await api.get("/v1/problem-reasons", headers=heads)
    assert reasons.status_code == 200 and len(reasons.json()) == len(c.problems.taxonomy())

    bob = heads | {"X-Buyer-Token": c.access.mint("bob")}
    resp = await api.post(f"/v1/orders/{order.id}/problems", json=body, headers=bob)
    assert resp.status_code == 403 and resp.json()["code"] == "forbidden"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"photos": []}, "needs at least one photo"),  # stitching requires photos
        ({"photos": [photo(b"hello, not an image")]}, "not a image/jpeg image"),
        ({"photos": [photo(PNG, "image/gif")]}, "photos must be one of"),
        ({"photos": [photo(b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024))]}, "between 1 byte"),
        ({"reason": "meh"}, "unknown problem reason"),
        ({"lines": [{"line_no": 1, "quantity": 3}]}, "between 1 and 2"),
    ],
)
async def test_bad_reports_are_refused_and_store_nothing(
    container: Container, api: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    c = container
    _, order = await delivered(c, "ann")
    [msg] = await c.messages.list(order_id=order.id, kind="delivered")
    body = {"lines": [{"line_no": 1, "quantity": 1}], "reason": "stitching", "photos": [photo()]}
    resp = await api.post(
        "/v1/problem-links/report",
        params={"token": link_token(msg["text_body"])},
        json=body | change,
    )
    assert resp.status_code in (400, 413, 422), resp.text
    assert field in resp.text
    assert await c.problems.list() == []
    assert not await asyncio.to_thread(Path(c.problems.data_dir, "problems").exists)


async def test_a_link_for_another_buyer_or_after_the_window_is_refused(
    container: Container, clock: ManualClock
) -> None:
    c = container
    _, order = await delivered(c, "ann", qty=1)
    async with c.uow(readonly=True) as uow:
        ship_row = await uow.shipments.for_order(order.id)
    assert ship_row is not None
    forged = c.problems.links.token(order.id, "bob", ship_row["delivered_at"] + timedelta(days=1))
    lines = [ReportedLine(1, 1)]
    with pytest.raises(Forbidden):
        await c.problems.report_via_link(forged, lines, "too_small", "", [])
    with pytest.raises(InvalidToken, match="signature"):
        await c.problems.report_via_link(
            forged[:-1] + ("A" if not forged.endswith("A") else "B"), lines, "too_small", "", []
        )
    [msg] = await c.messages.list(order_id=order.id, kind="delivered")
    token = link_token(msg["text_body"])
    clock.advance(timedelta(days=30, seconds=1).total_seconds())
    with pytest.raises(InvalidToken, match="expired"):
        await c.problems.report_via_link(token, lines, "too_small", "", [])
    # Through the API with a live buyer token, the window is the return's.
    with pytest.raises(Exception, match="return window closed"):
        await c.problems.report(order.id, "ann", lines, "too_small", "", [])
    assert await c.problems.list() == []


async def test_a_declined_report_tells_the_buyer_and_moves_nothing(
    container: Container,
) -> None:
    c = container
    shop, order = await delivered(c, "ann")
    p = await c.problems.report(
        order.id, "ann", [ReportedLine(1, 1)], "misuse_wear", "washed hot", []
    )
    with pytest.raises(InvalidInput):
        await c.problems.decline(p["id"], "   ")
    before = await level(c, shop.skus[0])
    d = await c.problems.decline(p["id"], "The care label says 30 °C.", by="ops")
    assert (d["status"], d["decision_message"]) == ("declined", "The care label says 30 °C.")
    [msg] = await c.messages.list(order_id=order.id, kind="problem_declined")
    assert "The care label says 30 °C." in msg["text_body"]
    assert await c.returns.list_returns(order_id=order.id) == []
    assert await level(c, shop.skus[0]) == before
    with pytest.raises(Exception, match="cannot go from declined"):
        await c.problems.approve(p["id"])


async def test_photos_are_checked_before_anything_is_written(container: Container) -> None:
    c = container
    _, order = await delivered(c, "ann")
    with pytest.raises(InvalidInput, match="at most 4 photos"):
        await c.problems.report(
            order.id,
            "ann",
            [ReportedLine(1, 1)],
            "stitching",
            "",
            [PhotoUpload(JPEG, "image/jpeg")] * 5,
        )
    ok = await c.problems.report(
        order.id, "ann", [ReportedLine(1, 1)], "stitching", "", [PhotoUpload(PNG, "image/png")]
    )
    assert ok["photos"][0]["content_type"] == "image/png"


async def test_a_report_that_fails_midway_leaves_no_photo_behind(
    container: Container, tmp_path: Path
) -> None:
    """The second photo's write fails (a full disk): the report is not stored and the
    first photo, already written, is deleted again."""
    from dropline.store.blobs import LocalBlobs

    class FullAfterOne(LocalBlobs):
        writes = 0

        async def put(self, key: str, data: bytes, content_type: str) -> None:
            FullAfterOne.writes += 1
            if FullAfterOne.writes > 1:
                raise OSError(28, "No space left on device")
            await super().put(key, data, content_type)

    c = container
    root = tmp_path / "blobs"
    c.problems.blobs = FullAfterOne(root)
    _, order = await delivered(c, "ann")
    with pytest.raises(OSError, match="No space"):
        await c.problems.report(
            order.id,
            "ann",
            [ReportedLine(1, 1)],
            "stitching",
            "",
            [PhotoUpload(JPEG, "image/jpeg"), PhotoUpload(PNG, "image/png")],
        )
    assert FullAfterOne.writes == 2
    assert [p for p in root.rglob("*") if p.is_file()] == []
    assert await c.problems.list() == []

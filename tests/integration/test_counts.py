"""Count sessions on both backends: blind by default, the variance fixed when a place is
counted (stock moving during the count is not mis-adjusted), variances over the
threshold approved by someone else, approval booked as ``count`` movements with who and
why, closing rules, the report (JSON, CSV, page), and what bad input gets."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import httpx
import pytest

from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.domain.errors import BinNotInSession, Conflict, InvalidInput, SelfApproval
from dropline.domain.stock.buckets import Bucket, Reason
from support import unique_suffix


async def _sku(c: Container, code: str = "CAP") -> str:
    product = await c.catalog.create_product("Cap")
    sku = await c.catalog.create_sku(product.id, f"{code}-{unique_suffix()}", 1500, "USD", {})
    return sku.id


async def _count_rows(c: Container, sku: str) -> list[tuple[int, str | None, str | None, str]]:
    async with c.uow(readonly=True) as uow:
        moves = await uow.stock.movements(sku_id=sku)
    return [
        (m.quantity, m.from_bucket, m.to_bucket, m.actor)
        for _, _, m in moves
        if m.reason is Reason.COUNT
    ]


async def test_variance_is_fixed_when_counted_and_booked_by_another_approver(
    container: Container,
) -> None:
    c = container
    sku = await _sku(c)
    await c.bins.create("K-1")
    await c.stock.receive(sku, 10, to_bin="K-1")
    s = await c.counts.open(bins=["K-1"], actor="olga")
    assert s["blind"] is True and s["status"] == "open"

    seen = await c.counts.count(s["id"], "K-1", sku, 7, actor="cody")
    assert "expected" not in seen and "variance" not in seen  # blind: the counter sees none
    assert seen["status"] == "counted"
    view = await c.counts.get(s["id"], viewer="cody")
    assert "expected" not in view["lines"][0]
    review = await c.counts.get(s["id"], viewer="olga")
    assert (review["lines"][0]["expected"], review["lines"][0]["variance"]) == (10, -3)
    assert review["lines"][0]["status"] == "pending"

    # Stock moves while the count waits: 4 units leave the bin.
    await c.bins.move(sku, 4, from_bin="K-1", to_bin=None, actor="pat", note="to packing")
    with pytest.raises(SelfApproval):
        await c.counts.decide(s["id"], "K-1", sku, approve=True, actor="cody", note="ok")
    with pytest.raises(InvalidInput):
        await c.counts.decide(s["id"], "K-1", sku, approve=True, actor="olga", note=" ")
    done = await c.counts.decide(s["id"], "K-1", sku, approve=True, actor="olga", note="seen")
    assert done["status"] == "approved" and done["decided_by"] == "olga"

    # The 3 missing units are written off from the bin: 10 - 4 moved - 3 = 3, not 7.
    placed = await c.bins.placement(sku)
    assert (placed.bins, placed.unplaced, placed.on_hand) == ({"K-1": 3}, 4, 7)
    [(qty, src, dst, actor)] = await _count_rows(c, sku)
    assert (qty, src, dst, actor) == (3, Bucket.AVAILABLE, None, "olga")
    async with c.uow(readonly=True) as uow:
        [row] = [m for _, _, m in await uow.stock.movements(ref=s["id"])]
    assert "cody counted 7" in row.note and "seen" in row.note
    closed = await c.counts.close(s["id"], actor="olga")
    assert closed["status"] == "closed" and closed["lines"][0]["expected"] == 10
    assert all(ch.consistent for ch in await c.stock.verify()) and await c.bins.verify() == []


async def test_within_threshold_is_booked_at_once_and_found_units_arrive(
    container: Container,
) -> None:
    c = container
    sku = await _sku(c)
    await c.bins.create("K-2")
    await c.stock.receive(sku, 5, to_bin="K-2")
    s = await c.counts.open(skus=[sku], threshold=2, blind=False, actor="olga")
    assert s["bins"] == ["(unplaced)", "K-2"]
    seen = await c.counts.count(s["id"], "K-2", sku, 7, actor="cody")
    assert (seen["status"], seen["expected"], seen["variance"]) == ("applied", 5, 2)
    assert (await c.bins.placement(sku)).bins == {"K-2": 7}
    assert await _count_rows(c, sku) == [(2, None, Bucket.AVAILABLE, "cody")]
    with pytest.raises(Conflict):  # counted and booked: a new session counts it again
        await c.counts.count(s["id"], "K-2", sku, 6, actor="cody")
    closed = await c.counts.close(s["id"], actor="cody")
    assert closed["status"] == "closed"


async def test_rejected_variance_is_counted_again_and_blocks_closing(container: Container) -> None:
    c = container
    sku = await _sku(c)
    other = await _sku(c, "BAG")
    await c.bins.create("K-3")
    await c.bins.create("K-4")
    await c.stock.receive(sku, 4, to_bin="K-3")
    await c.stock.receive(other, 2, to_bin="K-3")
    s = await c.counts.open(bins=["K-3"], actor="olga")
    await c.counts.count(s["id"], "K-3", sku, 1, actor="cody")
    await c.counts.decide(s["id"], "K-3", sku, approve=False, actor="olga", note="recount")
    with pytest.raises(Conflict):  # a rejected variance is still open
        await c.counts.close(s["id"], actor="olga")
    again = await c.counts.count(s["id"], "K-3", sku, 4, actor="cody")
    assert again["status"] == "counted"
    with pytest.raises(Conflict) as exc:  # the bag in K-3 is not counted yet
        await c.counts.close(s["id"], actor="olga")
    assert exc.value.extra["uncounted"][0]["sku_id"] == other
    await c.counts.count(s["id"], "K-3", other, None, none_found=True, actor="cody")
    await c.counts.decide(s["id"], "K-3", other, approve=True, actor="olga", note="lost")
    assert (await c.counts.close(s["id"], actor="olga"))["status"] == "closed"
    assert (await c.bins.placement(other)).on_hand == 0
    assert (await c.bins.placement(sku)).bins == {"K-3": 4}  # the recount matched


async def test_bad_counts_change_nothing(container: Container) -> None:
    c = container
    sku = await _sku(c)
    await c.bins.create("K-5")
    await c.bins.create("K-6")
    await c.stock.receive(sku, 3, to_bin="K-5")
    s = await c.counts.open(bins=["K-5"], actor="olga")
    with pytest.raises(BinNotInSession):
        await c.counts.count(s["id"], "K-6", sku, 1, actor="cody")
    with pytest.raises(BinNotInSession):  # the unplaced units are not in this session
        await c.counts.count(s["id"], None, sku, 1, actor="cody")
    for bad in (0, -2, None):
        with pytest.raises(InvalidInput):
            await c.counts.count(s["id"], "K-5", sku, bad, actor="cody")
    with pytest.raises(InvalidInput):
        await c.counts.count(s["id"], "K-5", sku, 2, none_found=True, actor="cody")
    with pytest.raises(InvalidInput):
        await c.counts.count(s["id"], "K-5", sku, 2, actor=" ")
    with pytest.raises(InvalidInput):
        await c.counts.open(actor="olga")
    with pytest.raises(Conflict):  # nothing counted
        await c.counts.close(s["id"], actor="olga")
    assert (await c.counts.get(s["id"], viewer="olga"))["lines"] == []
    assert (await c.bins.placement(sku)).bins == {"K-5": 3}


@pytest.fixture
async def two_keys(
    container: Container,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """The API with two ops keys: a counter's and an approver's."""
    app = create_app(container=container)
    app.state.container = container
    clients = []
    for name in ("counter", "approver"):
        key, _ = await container.access.create_key(name, "ops")
        clients.append(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://test",
                headers={"Authorization": f"Bearer {key}"},
            )
        )
    try:
        yield clients[0], clients[1]
    finally:
        for cl in clients:
            await cl.aclose()


async def test_counts_over_the_api_with_two_keys(
    two_keys: tuple[httpx.AsyncClient, httpx.AsyncClient], container: Container
) -> None:
    counter, approver = two_keys
    sku = await _sku(container)
    await container.bins.create("K-7")
    await container.bins.create("K-8")
    await container.stock.receive(sku, 6, to_bin="K-7")
    r = await approver.post("/v1/counts", json={"bins": ["K-7"], "note": "T-48h"})
    assert r.status_code == 201
    sid = r.json()["id"]
    line = {"bin": "K-7", "sku_id": sku, "counted": 5}
    r = await counter.post(f"/v1/counts/{sid}/lines", json=line)
    assert r.status_code == 201 and "expected" not in r.json()
    r = await counter.post(f"/v1/counts/{sid}/lines", json={**line, "bin": "K-8"})
    assert r.status_code == 422 and r.json()["code"] == "bin_not_in_session"
    r = await counter.post(f"/v1/counts/{sid}/lines", json={**line, "counted": 0})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = await counter.post(f"/v1/counts/{sid}/lines", json={**line, "counted": "5"})
    assert r.status_code == 422
    decision = {"bin": "K-7", "sku_id": sku, "note": "one fell behind the shelf"}
    r = await counter.post(f"/v1/counts/{sid}/lines/approve", json=decision)
    assert r.status_code == 403 and r.json()["code"] == "self_approval"
    r = await counter.post(f"/v1/counts/{sid}/close")
    assert r.status_code == 409
    r = await approver.post(f"/v1/counts/{sid}/lines/approve", json=decision)
    assert r.status_code == 200 and r.json()["variance"] == -1
    assert (await counter.post(f"/v1/counts/{sid}/close")).status_code == 200
    report = await approver.get(f"/v1/counts/{sid}/report", params={"format": "csv"})
    assert report.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert [(x["bin"], x["expected"], x["counted"], x["variance"], x["status"]) for x in rows] == [
        ("K-7", "6", "5", "-1", "approved")
    ]
    assert rows[0]["counted_by"] == "counter" and rows[0]["decided_by"] == "approver"
    page = await approver.get(f"/v1/counts/{sid}/report", params={"format": "html"})
    assert "K-7" in page.text and "one fell behind the shelf" in page.text
    assert (await approver.get("/v1/counts", params={"status": "closed"})).json()[0]["id"] == sid


async def _ui_login(http: httpx.AsyncClient, key: str) -> None:
    form = await http.get("/ui/login")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = await http.post("/ui/login", data={"api_key": key, "csrf_token": token})
    assert r.status_code == 303


async def test_count_report_page_hides_figures_from_the_counter(container: Container) -> None:
    c = container
    sku = await _sku(c)
    await c.bins.create("K-9")
    await c.stock.receive(sku, 3, to_bin="K-9")
    s = await c.counts.open(bins=["K-9"], actor="approver")
    await c.counts.count(s["id"], "K-9", sku, 2, actor="counter")
    app = create_app(container=c)
    async with app.router.lifespan_context(app):
        for name, sees in (("counter", False), ("approver", True)):
            key, _ = await c.access.create_key(name, "ops")
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as http:
                assert (await http.get(f"/ui/counts/{s['id']}")).status_code == 303
                await _ui_login(http, key)
                listed = await http.get("/ui/counts")
                assert s["id"] in listed.text
                page = await http.get(f"/ui/counts/{s['id']}")
                assert page.status_code == 200 and "K-9" in page.text
                assert ('<td class="num">hidden</td>' not in page.text) is sees
                report = await http.get(f"/ui/counts/{s['id']}/report.csv")
                row = next(csv.DictReader(io.StringIO(report.text)))
                assert (row["expected"], row["variance"]) == (("3", "-1") if sees else ("", ""))

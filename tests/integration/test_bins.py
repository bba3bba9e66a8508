"""Bins on both backends: units per bin follow the ledger (receipts into a bin, put-away,
moves, shipments from the picked bin, write-offs), the staging plan, pick lists and
packing slips by real bin (falling back to the SKU's free-text location), labels, and
what bad input gets."""

from __future__ import annotations

import httpx
import pytest

from dropline.bootstrap import Container
from dropline.domain.errors import Conflict, InsufficientStock, InvalidInput, NotFound
from dropline.domain.fulfilment.rules import FulfilmentUpdate
from dropline.domain.live.drops import DropStatus
from dropline.domain.stock.buckets import Bucket, Reason
from dropline.services.fulfilment.shipping import UpdateDetails
from fulfilment_support import SHIP_TO, VISA
from support import sku_item, unique_suffix


async def _sku(c: Container) -> tuple[str, str]:
    """A SKU with no stock (free-text location ``A-00``) and a draft drop: (sku, drop)."""
    product = await c.catalog.create_product("Tee")
    sku = await c.catalog.create_sku(
        product.id, f"TEE-{unique_suffix()}", 2500, "USD", {"size": "M"}, bin_location="A-00"
    )
    drop = await c.drops.create("Bins drop", "USD")
    return sku.id, drop.id


async def _consistent(c: Container) -> None:
    """Bucket totals and units per bin both replay from the ledger."""
    assert all(ch.consistent for ch in await c.stock.verify())
    assert await c.bins.verify() == []


async def test_units_move_into_between_and_out_of_bins_as_ledger_rows(
    container: Container,
) -> None:
    c = container
    sku, _ = await _sku(c)
    a = await c.bins.create("a-01", "A", "Tees S")
    b = await c.bins.create("A-02", "A")
    assert a.code == "A-01"  # codes are upper-cased
    await c.stock.receive(sku, 10, actor="ann", note="delivery", to_bin="A-01")
    await c.stock.receive(sku, 4, actor="ann", note="delivery")  # unplaced
    placed = await c.bins.placement(sku)
    assert (placed.on_hand, placed.bins, placed.unplaced) == (14, {"A-01": 10}, 4)

    placed = await c.bins.move(sku, 3, from_bin=None, to_bin=b.id, actor="bo", note="put away")
    assert (placed.bins, placed.unplaced) == ({"A-01": 10, "A-02": 3}, 1)
    placed = await c.bins.move(sku, 6, from_bin="A-01", to_bin="A-02", actor="bo", note="tidy")
    assert placed.bins == {"A-01": 4, "A-02": 9}
    async with c.uow(readonly=True) as uow:
        moves = [m for _, _, m in await uow.stock.movements(sku_id=sku)]
    relocation = moves[0]
    assert relocation.reason is Reason.BIN_MOVE
    assert (relocation.from_bin, relocation.to_bin, relocation.actor) == (a.id, b.id, "bo")
    assert (relocation.from_bucket, relocation.to_bucket) == (None, None)
    level = await c.stock.level(sku)
    assert (level.available, level.on_hand) == (14, 14)  # buckets never moved
    await _consistent(c)


async def test_a_write_off_takes_unplaced_units_first_then_bins(container: Container) -> None:
    c = container
    sku, _ = await _sku(c)
    await c.bins.create("W-1")
    await c.stock.receive(sku, 5, to_bin="W-1")
    await c.stock.receive(sku, 2)
    await c.stock.move(sku, 4, Bucket.AVAILABLE, None, actor="ann", note="water damage")
    placed = await c.bins.placement(sku)
    assert (placed.on_hand, placed.bins, placed.unplaced) == (3, {"W-1": 3}, 0)
    await _consistent(c)


async def test_bins_of_reads_the_units_of_the_skus_asked_for(container: Container) -> None:
    """The statement is built once with the ids as a parameter: any number of ids, none,
    or every SKU; empty bins are left out."""
    c = container
    (one, _), (two, _), (idle, _) = [await _sku(c) for _ in range(3)]
    r1, r2 = (await c.bins.create("R-1")).id, (await c.bins.create("R-2")).id
    await c.stock.receive(one, 3, to_bin="R-1")
    await c.stock.receive(one, 2, to_bin="R-2")
    await c.stock.receive(two, 1, to_bin="R-2")
    await c.stock.receive(idle, 1, to_bin="R-1")
    await c.bins.move(idle, 1, from_bin="R-1", to_bin=None, actor="ann", note="off the shelf")
    async with c.uow(readonly=True) as uow:
        assert await uow.stock.bins_of([one]) == {one: {r1: 3, r2: 2}}
        assert await uow.stock.bins_of([two, one, two]) == {one: {r1: 3, r2: 2}, two: {r2: 1}}
        assert await uow.stock.bins_of([idle]) == {}  # its bin row holds 0 units
        assert await uow.stock.bins_of([]) == {}
        every = await uow.stock.bins_of()
        assert every[one] == {r1: 3, r2: 2} and every[two] == {r2: 1} and idle not in every


async def test_bad_moves_change_nothing(container: Container) -> None:
    c = container
    sku, _ = await _sku(c)
    await c.bins.create("B-1")
    await c.stock.receive(sku, 2, to_bin="B-1")
    with pytest.raises(Conflict):
        await c.bins.create("b-1")  # the same code
    with pytest.raises(InvalidInput):
        await c.bins.create("no spaces")
    with pytest.raises(InsufficientStock):
        await c.bins.move(sku, 3, from_bin="B-1", to_bin=None, actor="a", note="n")
    with pytest.raises(InsufficientStock):  # nothing unplaced to put away
        await c.bins.move(sku, 1, from_bin=None, to_bin="B-1", actor="a", note="n")
    with pytest.raises(NotFound):
        await c.bins.move(sku, 1, from_bin="B-1", to_bin="NOPE", actor="a", note="n")
    with pytest.raises(InvalidInput):
        await c.bins.move(sku, 1, from_bin="B-1", to_bin="B-1", actor="a", note="n")
    with pytest.raises(InvalidInput):
        await c.bins.move(sku, 1, from_bin="B-1", to_bin=None, actor="", note="n")
    with pytest.raises(NotFound):
        await c.stock.receive(sku, 1, to_bin="NOPE")
    assert (await c.bins.placement(sku)).bins == {"B-1": 2}
    await _consistent(c)


async def test_pick_list_and_shipment_use_the_staged_bin_then_the_old_location(
    container: Container,
) -> None:
    c = container
    sku, drop_id = await _sku(c)  # its free-text bin_location is "A-00"
    await c.bins.create("S-9")
    await c.bins.create("S-1")
    await c.stock.receive(sku, 2, to_bin="S-9")
    await c.stock.receive(sku, 3, to_bin="S-1")
    await c.stock.receive(sku, 1)  # unplaced
    await c.drops.set_offer(drop_id, sku, 6)
    await c.bins.stage(drop_id, sku, "S-9", "ann")
    await c.drops.transition(drop_id, DropStatus.SCHEDULED)
    await c.drops.transition(drop_id, DropStatus.LIVE)
    orders = []
    for buyer in ("ann", "bob"):
        hold = await c.holds.place(drop_id, buyer, [sku_item(sku, 3)])
        result = await c.checkout.start(hold.id, buyer, VISA, SHIP_TO)
        assert result.order is not None
        orders.append(result.order.id)

    pick = await c.pick_lists.pick_list(drop_id)
    # The staged bin first, then the other bin by code, then the old free-text place.
    assert [(r["bin_location"], r["quantity"]) for r in pick["rows"]] == [
        ("A-00", 1),
        ("S-1", 3),
        ("S-9", 2),
    ]
    slips = await c.pick_lists.packing_slips(drop_id=drop_id)
    assert [(r["bin_location"], r["quantity"]) for r in slips[0]["rows"]] == [
        ("S-1", 1),
        ("S-9", 2),
    ]
    assert [(r["bin_location"], r["quantity"]) for r in slips[1]["rows"]] == [
        ("A-00", 1),
        ("S-1", 2),
    ]

    await c.fulfilment.apply_update(
        "wms", "e1", FulfilmentUpdate.SHIPPED, orders[0], UpdateDetails("UPS", "1Z1")
    )
    placed = await c.bins.placement(sku)
    assert (placed.bins, placed.unplaced) == ({"S-1": 2}, 1)  # staged bin emptied first
    async with c.uow(readonly=True) as uow:
        moves = await uow.stock.movements(ref=orders[0])
    shipped = [m for _, _, m in moves if m.reason is Reason.SHIPMENT]
    assert sorted((m.quantity, m.from_bin is not None) for m in shipped) == [(1, True), (2, True)]
    await _consistent(c)


async def test_bins_over_the_api(api: httpx.AsyncClient, container: Container) -> None:
    sku, drop_id = await _sku(container)
    r = await api.post("/v1/bins", json={"code": "C-01", "zone": "C", "label": "Caps"})
    assert r.status_code == 201 and r.json()["code"] == "C-01"
    bin_id = r.json()["id"]
    assert (await api.post("/v1/bins", json={"code": "C-01"})).json()["code"] == "conflict"
    bad = await api.post("/v1/bins", json={"code": "C 01"})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    r = await api.post(f"/v1/stock/{sku}/receipts", json={"quantity": 5, "bin": "C-01"})
    assert r.status_code == 201
    r = await api.post("/v1/bins", json={"code": "C-02", "zone": "C"})
    move = {"sku_id": sku, "quantity": 2, "from_bin": "C-01", "to_bin": "C-02", "note": "x"}
    r = await api.post("/v1/bins/moves", json=move)
    assert r.status_code == 201 and r.json()["bins"] == {"C-01": 3, "C-02": 2}
    too_many = await api.post("/v1/bins/moves", json={**move, "quantity": 9})
    assert too_many.status_code == 409 and too_many.json()["code"] == "insufficient_stock"
    missing = await api.post("/v1/bins/moves", json={**move, "to_bin": "ZZ"})
    assert missing.status_code == 404
    listed = (await api.get("/v1/bins", params={"zone": "C"})).json()
    assert [(b["code"], b["units"]) for b in listed] == [("C-01", 3), ("C-02", 2)]
    assert (await api.get(f"/v1/bins/{bin_id}")).json()["skus"] == {sku: 3}
    assert (await api.get(f"/v1/stock/{sku}/bins")).json()["unplaced"] == 0
    ledger = (await api.get(f"/v1/stock/{sku}")).json()["movements"]
    assert ledger[0]["reason"] == "bin_move" and ledger[0]["to_bin"] is not None
    r = await api.put(f"/v1/drops/{drop_id}/staging/{sku}", json={"bin": "C-01"})
    assert r.status_code == 200
    plan = (await api.get(f"/v1/drops/{drop_id}/staging")).json()
    assert plan["rows"][0]["bin"]["code"] == "C-01" and plan["rows"][0]["units_in_bin"] == 3
    labels = await api.get("/v1/bins/labels", params={"zone": "C"})
    assert labels.headers["content-type"].startswith("text/html")
    assert "C-01" in labels.text and "C-02" in labels.text and "Caps" in labels.text
    assert (await api.get("/v1/bins/verify")).json()["consistent"] is True
    # Operator changes without a domain event are in the audit trail, by key.
    audited = {e.action: e for e in (await container.audit.list(limit=200))[0]}
    assert audited["stock.bin_moved"].actor_name == "ops"
    assert audited["stock.bin_moved"].after["to_bin"] == "C-02"
    assert audited["bin.created"].resource_id == bin_id
    assert audited["drop.staged"].after["sku_id"] == sku

"""Bins, moves between them, the staging plan of a drop and printable bin labels (ops)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import Field

from dropline.api.deps import ContainerDep, Ops
from dropline.api.schemas import StockQty, Strict

router = APIRouter(tags=["stock"])

BinRef = Annotated[str, Field(min_length=1, max_length=44, description="bin id or code")]


class BinIn(Strict):
    code: Annotated[str, Field(min_length=1, max_length=40, examples=["A-01-03"])]
    zone: Annotated[str, Field(max_length=40)] = ""
    label: Annotated[str, Field(max_length=200)] = ""


class BinMoveIn(Strict):
    sku_id: Annotated[str, Field(max_length=40)]
    quantity: StockQty
    from_bin: BinRef | None = Field(None, description="omit to put away unplaced units")
    to_bin: BinRef | None = Field(None, description="omit to take units out of the bin")
    note: Annotated[str, Field(min_length=1, max_length=2000)]


class StageIn(Strict):
    bin: BinRef


@router.post("/v1/bins", status_code=201)
async def create_bin(body: BinIn, c: ContainerDep, _: Ops) -> dict[str, Any]:
    b = await c.bins.create(body.code, body.zone, body.label)
    return await c.bins.get(b.id)


@router.get("/v1/bins")
async def list_bins(c: ContainerDep, _: Ops, zone: str | None = None) -> list[dict[str, Any]]:
    """Every bin (of a zone) with the units it holds per SKU, by zone then code."""
    return await c.bins.list_bins(zone)


@router.get(
    "/v1/bins/labels",
    response_class=HTMLResponse,
    responses={404: {"description": "not_found: a bin asked for does not exist"}},
)
async def labels(
    c: ContainerDep,
    _: Ops,
    bin: Annotated[list[str], Query(max_length=44)] = [],  # noqa: B006
    zone: str | None = None,
) -> Response:
    """Printable labels (HTML) for the given bins (repeat ``bin``), or every bin."""
    return HTMLResponse(await c.bins.labels_html(bin, zone))


@router.get("/v1/bins/verify")
async def verify_bins(c: ContainerDep, _: Ops) -> dict[str, Any]:
    """Replays the ledger's bin columns and compares them with the units per bin."""
    diffs = await c.bins.verify()
    return {"consistent": not diffs, "differences": diffs}


@router.get("/v1/bins/{ref}")
async def get_bin(ref: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    return await c.bins.get(ref)


@router.post("/v1/bins/moves", status_code=201)
async def move(body: BinMoveIn, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """Units into a bin, between bins or out of one: a ``bin_move`` ledger row."""
    placed = await c.bins.move(
        body.sku_id,
        body.quantity,
        from_bin=body.from_bin,
        to_bin=body.to_bin,
        actor=who.name,
        note=body.note,
    )
    return asdict(placed)


@router.get("/v1/stock/{sku_id}/bins")
async def placement(sku_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """Where a SKU's units on hand are: per bin code, and unplaced."""
    return asdict(await c.bins.placement(sku_id))


@router.get("/v1/drops/{drop_id}/staging")
async def staging(drop_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """The staging plan: the bin of each SKU the drop offers, and whether it holds the
    offered units."""
    return await c.bins.staging_plan(drop_id)


@router.put("/v1/drops/{drop_id}/staging/{sku_id}")
async def stage(
    drop_id: str, sku_id: str, body: StageIn, c: ContainerDep, who: Ops
) -> dict[str, Any]:
    return await c.bins.stage(drop_id, sku_id, body.bin, who.name)


@router.delete("/v1/drops/{drop_id}/staging/{sku_id}", status_code=204)
async def unstage(drop_id: str, sku_id: str, c: ContainerDep, _: Ops) -> Response:
    await c.bins.unstage(drop_id, sku_id)
    return Response(status_code=204)

"""Stock levels and the movement ledger (ops)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dropline.api import schemas as s
from dropline.api import views
from dropline.api.deps import ContainerDep, Ops
from dropline.api.fields import QueryInt
from dropline.services.serialize import rfc3339

router = APIRouter(prefix="/v1/stock", tags=["stock"])


@router.get("", response_model=list[s.StockLevelOut])
async def list_levels(c: ContainerDep, _: Ops) -> list[s.StockLevelOut]:
    return [views.level(lv) for lv in (await c.stock.levels()).values()]


@router.get("/verify")
async def verify(c: ContainerDep, _: Ops) -> dict[str, Any]:
    """Replays the whole ledger and compares it with the stored levels."""
    checks = await c.stock.verify()
    bad = [ch for ch in checks if not ch.consistent]
    return {
        "consistent": not bad,
        "skus_checked": len(checks),
        "differences": [
            {
                "sku_id": ch.sku_id,
                "stored": views.level(ch.stored).model_dump(),
                "ledger": views.level(ch.from_ledger).model_dump(),
            }
            for ch in bad
        ],
    }


@router.get("/{sku_id}")
async def get_level(sku_id: str, c: ContainerDep, _: Ops, limit: QueryInt = 100) -> dict[str, Any]:
    level = await c.stock.level(sku_id)
    async with c.uow(readonly=True) as uow:
        moves = await uow.stock.movements(sku_id=sku_id, limit=max(1, min(limit, 1000)))
    return {
        "level": views.level(level).model_dump(),
        "movements": [
            {
                "seq": seq,
                "at": rfc3339(at),
                "quantity": m.quantity,
                "from": m.from_bucket,
                "to": m.to_bucket,
                "reason": m.reason,
                "ref": m.ref,
                "actor": m.actor,
                "note": m.note,
                "from_bin": m.from_bin,
                "to_bin": m.to_bin,
            }
            for seq, at, m in moves
        ],
    }


@router.post("/{sku_id}/receipts", status_code=201, response_model=s.StockLevelOut)
async def receive(sku_id: str, body: s.ReceiptIn, c: ContainerDep, who: Ops) -> s.StockLevelOut:
    level = await c.stock.receive(
        sku_id,
        body.quantity,
        bucket=body.bucket,
        actor=who.name,
        note=body.note,
        ref=body.ref,
        to_bin=body.bin,
    )
    return views.level(level)


@router.post("/{sku_id}/adjustments", status_code=201, response_model=s.StockLevelOut)
async def adjust(sku_id: str, body: s.AdjustmentIn, c: ContainerDep, who: Ops) -> s.StockLevelOut:
    level = await c.stock.move(
        sku_id, body.quantity, body.from_bucket, body.to_bucket, actor=who.name, note=body.note
    )
    return views.level(level)


@router.post("/{sku_id}/counts", status_code=201)
async def count(sku_id: str, body: s.CountIn, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """A physical count; a difference from the ledger becomes an adjustment movement."""
    level, mv = await c.stock.count(
        sku_id, body.bucket, body.counted, actor=who.name, note=body.note
    )
    return {
        "level": views.level(level).model_dump(),
        "adjustment": None
        if mv is None
        else {
            "quantity": mv.quantity,
            "from": mv.from_bucket,
            "to": mv.to_bucket,
        },
    }


@router.put("/{sku_id}/safety", response_model=s.StockLevelOut)
async def safety(sku_id: str, body: s.SafetyIn, c: ContainerDep, _: Ops) -> s.StockLevelOut:
    return views.level(await c.stock.set_safety(sku_id, body.quantity, body.percent))

"""The funnel's inputs: view counts from the overlay or storefront (storefront key) and
the host's cues during a stream (ops). The figures are read in the lessons
(``/v1/insight/lessons``); definitions in ``domain/insight/funnel.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictInt

from dropline.api import idempotency
from dropline.api.deps import ContainerDep, IdempotencyKey, Ops, Storefront
from dropline.api.fields import Rfc3339
from dropline.api.schemas import Strict
from dropline.domain.insight.funnel import (
    CUE_KINDS,
    MAX_CUE_TEXT,
    MAX_VIEW_BATCH,
    MAX_VIEWS_PER_ENTRY,
    ViewCount,
)
from dropline.services.serialize import rfc3339

router = APIRouter(prefix="/v1/drops", tags=["insight"])

CueKind = Literal["pin", "unpin", "mention", "promo", "restock", "other"]
assert set(CUE_KINDS) == set(CueKind.__args__)  # type: ignore[attr-defined]


class ViewCountIn(Strict):
    sku_id: Annotated[
        str | None, Field(max_length=40, description="the product shown; none for the drop")
    ] = None
    channel: Annotated[
        str,
        Field(
            max_length=40,
            description="live, clip, email, social, ad or pop-up (as a hold's attribution)",
        ),
    ] = ""
    views: Annotated[StrictInt, Field(ge=1, le=MAX_VIEWS_PER_ENTRY)]


class ViewsIn(Strict):
    counts: Annotated[list[ViewCountIn], Field(min_length=1, max_length=MAX_VIEW_BATCH)]


class ViewsOut(BaseModel):
    drop_id: str
    views: int


class CueIn(Strict):
    kind: CueKind
    text: Annotated[str, Field(max_length=MAX_CUE_TEXT)] = ""
    at: Annotated[Rfc3339 | None, Field(description="when the host said it; now if none")] = None
    sku_id: Annotated[str | None, Field(max_length=40, description="the SKU pinned or named")] = (
        None
    )
    product_id: Annotated[str | None, Field(max_length=40)] = None


class CueOut(BaseModel):
    id: str
    drop_id: str
    at: str
    kind: str
    sku_id: str | None
    product_id: str | None
    text: str
    created_by: str
    created_at: str


def cue_out(c: dict[str, Any]) -> CueOut:
    return CueOut.model_validate(
        {**c, "at": rfc3339(c["at"]), "created_at": rfc3339(c["created_at"])}
    )


@router.post("/{drop_id}/views", status_code=202, response_model=ViewsOut)
async def report_views(
    drop_id: str,
    body: ViewsIn,
    c: ContainerDep,
    who: Storefront,
    request: Request,
    key: IdempotencyKey = None,
) -> Response:
    """The overlay's view counts since its last report, batched: per product (or the
    drop itself, no ``sku_id``) and channel. They are added to counters; no buyer is
    named. With an ``Idempotency-Key`` a retried batch is counted once. A bad entry (a
    SKU not offered, a channel that is not a token) refuses the whole batch."""
    counts = [ViewCount(v.sku_id or "", v.channel, v.views) for v in body.counts]

    async def do() -> ViewsOut:
        return ViewsOut(drop_id=drop_id, views=await c.funnel.record_views(drop_id, counts))

    return await idempotency.run(c, request, who, key, do, status_code=202)


@router.post("/{drop_id}/cues", status_code=201, response_model=CueOut)
async def add_cue(
    drop_id: str,
    body: CueIn,
    c: ContainerDep,
    who: Ops,
    request: Request,
    key: IdempotencyKey = None,
) -> Response:
    """Log a host cue during the stream: a product pinned, a line said, a promo. The
    lessons show each cue beside sales velocity with the lift after it."""
    at = datetime.fromisoformat(body.at.replace("Z", "+00:00")) if body.at else None

    async def do() -> CueOut:
        got = await c.funnel.add_cue(
            drop_id,
            body.kind,
            body.text,
            at=at,
            sku_id=body.sku_id,
            product_id=body.product_id,
            by=who.name,
        )
        return cue_out(got)

    return await idempotency.run(c, request, who, key, do)


@router.get("/{drop_id}/cues", response_model=list[CueOut])
async def list_cues(drop_id: str, c: ContainerDep, _: Ops) -> list[CueOut]:
    """The drop's cues, oldest first."""
    return [cue_out(x) for x in await c.funnel.cues(drop_id)]

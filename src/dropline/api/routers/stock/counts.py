"""Count sessions (ops): open a blind count, record what is found, approve or reject
variances, close, and the session's report as JSON, CSV or a printable page.

Who counts and who approves is the caller's API key name: a variance over the
threshold is approved by another key than the one that counted it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import Field, StrictBool, StrictInt

from dropline.api.deps import ContainerDep, Ops
from dropline.api.schemas import Strict, Text
from dropline.services.stock.counts import render_count_csv, render_count_html

router = APIRouter(prefix="/v1/counts", tags=["stock"])

Ref = Annotated[str, Field(max_length=44)]
TEXT: dict[str, Any] = {"schema": {"type": "string"}}


class CountOpenIn(Strict):
    bins: Annotated[list[Ref], Field(max_length=1000)] = Field(
        [], description="bin ids or codes; 'unplaced' for units in no bin"
    )
    skus: Annotated[list[Ref], Field(max_length=1000)] = Field(
        [], description="count these SKUs (in the bins, or wherever they are)"
    )
    blind: StrictBool = True
    threshold: Annotated[StrictInt, Field(ge=0, le=10_000_000)] = Field(
        0, description="variances of at most this many units are booked at once"
    )
    note: Text = ""


class CountLineIn(Strict):
    bin: Ref | None = Field(None, description="bin id or code; omit for the unplaced units")
    sku_id: Ref
    counted: Annotated[StrictInt, Field(ge=-10_000_000, le=10_000_000)] | None = Field(
        None, description="units found (at least 1)"
    )
    none_found: StrictBool = Field(False, description="the place holds none of the SKU")


class DecisionIn(Strict):
    bin: Ref | None = None
    sku_id: Ref
    note: Annotated[str, Field(min_length=1, max_length=2000)]


@router.post("", status_code=201)
async def open_count(body: CountOpenIn, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """Open a count of bins, of SKUs wherever they are, or of SKUs in bins."""
    return await c.counts.open(
        bins=body.bins,
        skus=body.skus,
        blind=body.blind,
        threshold=body.threshold,
        note=body.note,
        actor=who.name,
    )


@router.get("")
async def list_counts(c: ContainerDep, _: Ops, status: str | None = None) -> list[dict[str, Any]]:
    return await c.counts.list_sessions(status)


@router.get("/{session_id}")
async def get_count(session_id: str, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """The session and its lines; while a blind session is open its counters do not
    see the expected figures of what they counted."""
    return await c.counts.get(session_id, viewer=who.name)


@router.post("/{session_id}/lines", status_code=201)
async def count_line(
    session_id: str, body: CountLineIn, c: ContainerDep, who: Ops
) -> dict[str, Any]:
    """What was found of a SKU at a bin. 422 ``bin_not_in_session`` for a bin the
    session does not cover; 422 for a count below 1 (say ``none_found`` instead)."""
    return await c.counts.count(
        session_id,
        body.bin,
        body.sku_id,
        body.counted,
        none_found=body.none_found,
        actor=who.name,
    )


@router.post("/{session_id}/lines/{decision}")
async def decide(
    session_id: str,
    decision: Literal["approve", "reject"],
    body: DecisionIn,
    c: ContainerDep,
    who: Ops,
) -> dict[str, Any]:
    """Approve (booked as ``count`` movements) or reject (count again) a variance over
    the threshold; 403 ``self_approval`` for the key that counted it."""
    return await c.counts.decide(
        session_id,
        body.bin,
        body.sku_id,
        approve=decision == "approve",
        actor=who.name,
        note=body.note,
    )


@router.post("/{session_id}/close")
async def close(session_id: str, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """409 while a variance is open or a place is not counted."""
    return await c.counts.close(session_id, actor=who.name)


@router.post("/{session_id}/cancel")
async def cancel(session_id: str, c: ContainerDep, who: Ops) -> dict[str, Any]:
    return await c.counts.cancel(session_id, actor=who.name)


@router.get(
    "/{session_id}/report",
    responses={200: {"content": {"text/csv": TEXT, "text/html": TEXT}}},
)
async def report(
    session_id: str, c: ContainerDep, who: Ops, format: Literal["json", "csv", "html"] = "json"
) -> Any:
    """The count report: ``format=csv`` for a spreadsheet, ``html`` to print."""
    data = await c.counts.get(session_id, viewer=who.name)
    if format == "csv":
        return PlainTextResponse(
            render_count_csv(data),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="count-{session_id}.csv"'},
        )
    if format == "html":
        return HTMLResponse(render_count_html(data))
    return data

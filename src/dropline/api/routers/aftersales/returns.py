"""Returns and refunds of shipped orders (ops): authorise a return, receive the parcel
(units back into stock by disposition, then the refund), cancel one that never came."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictBool, StrictInt

from dropline.api import idempotency
from dropline.api.deps import ContainerDep, IdempotencyKey, Ops
from dropline.api.fields import Digits
from dropline.api.openapi import errors
from dropline.api.schemas import MoneyOut, Ordinal, Strict
from dropline.domain.aftersales.returns import (
    MAX_NOTE,
    Disposition,
    ReturnLineRequest,
    ReturnReason,
    ReturnStatus,
)
from dropline.services.aftersales.returns import return_view
from dropline.services.serialize import rfc3339
from dropline.store.aftersales.repo import ReturnRecord

router = APIRouter(tags=["returns"])

Note = Annotated[str, Field(max_length=MAX_NOTE)]


class ReturnLineIn(Strict):
    line_no: Annotated[Ordinal, Field(description="the order line (1-based)")]
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)]
    reason: ReturnReason
    note: Note = ""


class ReturnIn(Strict):
    lines: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=200)]
    note: Note = ""


class DispositionIn(Strict):
    line_no: Ordinal
    disposition: Annotated[
        Disposition,
        Field(
            description="restock (→ available), inspect (→ quality_control) or scrap (→ damaged)"
        ),
    ]


class ReceiveIn(Strict):
    dispositions: Annotated[list[DispositionIn], Field(max_length=200)] = []
    refund: StrictBool = Field(True, description="refund now (else POST .../refund later)")


class CancelReturnIn(Strict):
    reason: Note = ""


class ReturnLineOut(BaseModel):
    line_no: int
    quantity: int
    reason: ReturnReason
    note: str
    amount: int
    units: dict[str, int]
    disposition: Disposition | None = None


class ReturnOut(BaseModel):
    id: str
    order_id: str
    drop_id: str
    buyer_id: str
    status: ReturnStatus
    lines: list[ReturnLineOut]
    note: str
    refund: MoneyOut
    refund_error: str
    requested_by: str
    received_by: str
    created_at: str | None
    received_at: str | None
    refunded_at: str | None


def _out(r: ReturnRecord) -> ReturnOut:
    v = return_view(r)
    for k in ("created_at", "received_at", "refunded_at"):
        v[k] = rfc3339(v[k])
    return ReturnOut.model_validate(v)


@router.post("/v1/orders/{order_id}/returns", response_model=ReturnOut, status_code=201)
async def request_return(
    order_id: str,
    body: ReturnIn,
    c: ContainerDep,
    who: Ops,
    request: Request,
    key: IdempotencyKey = None,
) -> Response:
    """Authorise a return of some units of a shipped or delivered order, within the
    return window, and price its refund (proportional to each line, exact in total).
    409 ``return_not_allowed`` when the order has not shipped, the window has closed or
    nothing is left to refund. Send an ``Idempotency-Key`` so a retried request does
    not authorise a second return."""
    lines = [ReturnLineRequest(ln.line_no, ln.quantity, ln.reason, ln.note) for ln in body.lines]

    async def do() -> ReturnOut:
        return _out(await c.returns.request(order_id, lines, note=body.note, by=who.name))

    return await idempotency.run(c, request, who, key, do)


@router.get("/v1/returns", response_model=list[ReturnOut])
async def list_returns(
    c: ContainerDep,
    _: Ops,
    drop_id: str | None = None,
    order_id: str | None = None,
    status: ReturnStatus | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500), Digits] = 100,
) -> list[ReturnOut]:
    """Oldest first; page with ``after=<last return id>``."""
    found = await c.returns.list_returns(
        drop_id=drop_id, order_id=order_id, status=status, after=after, limit=limit
    )
    return [_out(r) for r in found]


@router.get("/v1/returns/{return_id}", response_model=ReturnOut)
async def get_return(return_id: str, c: ContainerDep, _: Ops) -> ReturnOut:
    return _out(await c.returns.get(return_id))


@router.post("/v1/returns/{return_id}/receive", response_model=ReturnOut, responses=errors(502))
async def receive_return(return_id: str, body: ReceiveIn, c: ContainerDep, who: Ops) -> ReturnOut:
    """The parcel arrived: units go back into stock by disposition (default from the
    reason: a defect goes to ``inspect``, never straight back on sale), then the refund
    is made. Repeating the call only finishes a refund that failed; a refund the
    provider refused leaves the return ``received`` with ``refund_error`` and is retried
    in the background."""
    chosen: dict[int, Disposition] = {}
    for d in body.dispositions:
        chosen[d.line_no] = d.disposition
    return _out(await c.returns.receive(return_id, chosen, by=who.name, refund=body.refund))


@router.post("/v1/returns/{return_id}/refund", response_model=ReturnOut, responses=errors(502))
async def refund_return(return_id: str, c: ContainerDep, _: Ops) -> ReturnOut:
    """Refund a received return now (idempotent: the provider's key is the return's)."""
    return _out(await c.returns.refund(return_id))


@router.post("/v1/returns/{return_id}/cancel", response_model=ReturnOut)
async def cancel_return(
    return_id: str, body: CancelReturnIn, c: ContainerDep, who: Ops
) -> ReturnOut:
    """Cancel a return that was never received; its units can be returned again."""
    return _out(await c.returns.cancel(return_id, reason=body.reason, by=who.name))

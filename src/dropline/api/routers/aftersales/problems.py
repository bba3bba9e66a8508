"""Buyer-reported problems: the reason taxonomy (storefront), a buyer's report through
the creator's site (storefront + buyer token) or the signed link in the delivered
message (the token is the credential), and the ops lead's approve or decline (ops)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictInt

from dropline.api.deps import Buyer, ContainerDep, Ops, Storefront
from dropline.api.fields import Digits
from dropline.api.openapi import errors
from dropline.api.schemas import Ordinal, Strict
from dropline.domain.aftersales.problems import (
    MAX_DECLINE_MESSAGE,
    MAX_NOTE,
    MAX_PHOTOS,
    MAX_REPORT_BYTES,
    PHOTO_TYPES,
    ProblemStatus,
)
from dropline.domain.errors import InvalidInput
from dropline.services.aftersales.problems import PhotoUpload, ReportedLine, problem_view
from dropline.services.serialize import rfc3339

router = APIRouter(tags=["problems"])

LINK_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "`invalid_token`: the link is malformed, forged or expired"},
    **errors(409),
}
PHOTO = {t: {"schema": {"type": "string", "format": "binary"}} for t in PHOTO_TYPES}


class ReportLineIn(Strict):
    line_no: Annotated[Ordinal, Field(description="the order line (1-based)")]
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)]


class PhotoIn(Strict):
    content_type: Annotated[str, Field(max_length=40, description=", ".join(PHOTO_TYPES))]
    data: Annotated[str, Field(description="the image, base64", max_length=MAX_REPORT_BYTES)]
    filename: Annotated[str, Field(max_length=200)] = ""


class ProblemIn(Strict):
    lines: Annotated[list[ReportLineIn], Field(min_length=1, max_length=200)]
    reason: Annotated[str, Field(max_length=40, description="a code of GET /v1/problem-reasons")]
    note: Annotated[str, Field(max_length=MAX_NOTE)] = ""
    photos: Annotated[list[PhotoIn], Field(max_length=MAX_PHOTOS)] = []


class DeclineIn(Strict):
    message: Annotated[str, Field(min_length=1, max_length=MAX_DECLINE_MESSAGE)]


class ReasonOut(BaseModel):
    code: str
    group: str
    label: str
    photos_required: bool
    is_defect: bool
    return_reason: str


class ProblemPhotoOut(BaseModel):
    id: str
    content_type: str
    size: int
    filename: str


class ProblemLineOut(BaseModel):
    line_no: int
    quantity: int
    units: dict[str, int]


class ProblemOut(BaseModel):
    id: str
    order_id: str
    drop_id: str
    buyer_id: str
    status: ProblemStatus
    reason: str
    lines: list[ProblemLineOut]
    note: str
    photos: list[ProblemPhotoOut]
    via: str
    return_id: str | None
    decision_message: str
    decided_by: str
    created_at: str | None
    decided_at: str | None


def _out(p: dict[str, Any]) -> ProblemOut:
    v = problem_view(p)
    for k in ("created_at", "decided_at"):
        v[k] = rfc3339(v[k])
    return ProblemOut.model_validate(v)


def _parts(body: ProblemIn) -> tuple[list[ReportedLine], list[PhotoUpload]]:
    photos = []
    for ph in body.photos:
        try:
            data = base64.b64decode(ph.data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("a photo's data is not base64", field="photos") from None
        photos.append(PhotoUpload(data, ph.content_type, ph.filename))
    return [ReportedLine(ln.line_no, ln.quantity) for ln in body.lines], photos


@router.get("/v1/problem-reasons", response_model=list[ReasonOut])
async def reasons(c: ContainerDep, _: Storefront) -> list[dict[str, object]]:
    """The taxonomy: stable codes by group, whether photos are required and whether
    the reason counts as a defect."""
    return c.problems.taxonomy()


@router.post(
    "/v1/orders/{order_id}/problems",
    response_model=ProblemOut,
    status_code=201,
    max_body_size=MAX_REPORT_BYTES,
    responses=errors(409),
)
async def report(
    order_id: str, body: ProblemIn, c: ContainerDep, _: Storefront, buyer: Buyer
) -> ProblemOut:
    """The buyer reports a problem with lines of their delivered order (403 for another
    buyer's order; 409 ``return_not_allowed`` outside the return window)."""
    lines, photos = _parts(body)
    return _out(
        await c.problems.report(order_id, buyer, lines, body.reason, body.note, photos, via="api")
    )


@router.get("/v1/problem-links/report", tags=["buyers"], responses=LINK_ERRORS)
async def link_form(token: str, c: ContainerDep) -> dict[str, Any]:
    """What the link in the delivered message shows: the order's lines and the reasons.
    No API key: the signed token is the credential."""
    return await c.problems.link_order(token)


@router.post(
    "/v1/problem-links/report",
    tags=["buyers"],
    response_model=ProblemOut,
    status_code=201,
    max_body_size=MAX_REPORT_BYTES,
    responses=LINK_ERRORS,
)
async def link_report(token: str, body: ProblemIn, c: ContainerDep) -> ProblemOut:
    """Report a problem from the signed link (valid until the return window closes)."""
    lines, photos = _parts(body)
    return _out(await c.problems.report_via_link(token, lines, body.reason, body.note, photos))


@router.get("/v1/problems", response_model=list[ProblemOut])
async def list_problems(
    c: ContainerDep,
    _: Ops,
    status: ProblemStatus | None = None,
    drop_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500), Digits] = 100,
) -> list[ProblemOut]:
    """The newest reports first."""
    return [_out(p) for p in await c.problems.list(status=status, drop_id=drop_id, limit=limit)]


@router.get("/v1/problems/{problem_id}", response_model=ProblemOut)
async def get_problem(problem_id: str, c: ContainerDep, _: Ops) -> ProblemOut:
    return _out(await c.problems.get(problem_id))


@router.get(
    "/v1/problems/{problem_id}/photos/{photo_id}",
    response_class=Response,
    responses={200: {"description": "The photo", "content": PHOTO}},
)
async def get_problem_photo(problem_id: str, photo_id: str, c: ContainerDep, _: Ops) -> Response:
    data, media_type = await c.problems.photo(problem_id, photo_id)
    return Response(data, media_type=media_type)


@router.post("/v1/problems/{problem_id}/approve", response_model=ProblemOut, responses=errors(409))
async def approve(problem_id: str, c: ContainerDep, who: Ops) -> ProblemOut:
    """The report becomes a return (``return_id``), received and refunded as any return."""
    return _out(await c.problems.approve(problem_id, by=who.name))


@router.post("/v1/problems/{problem_id}/decline", response_model=ProblemOut)
async def decline(problem_id: str, body: DeclineIn, c: ContainerDep, who: Ops) -> ProblemOut:
    """Decline with a message; the buyer receives it."""
    return _out(await c.problems.decline(problem_id, body.message, by=who.name))

"""Quality control: specs, golden samples, inspections, the gate, traceability (ops)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import FileResponse
from pydantic import Field, StrictBool, StrictInt

from dropline.api.deps import ContainerDep, Ops
from dropline.api.fields import MAX_INT32, Digits
from dropline.api.plain import plain_dict, plain_list
from dropline.api.schemas import Name, Strict, Text
from dropline.domain.errors import NotFound
from dropline.domain.supply.aql import DefectClass
from dropline.domain.supply.qc import Disposition, Stage
from dropline.services.supply.qc_trace import MAX_PHOTO_BYTES, PHOTO_TYPES

router = APIRouter(prefix="/v1/qc", tags=["quality control"])

Count = Annotated[StrictInt, Field(ge=0, le=10_000_000)]
#: A photo's bytes, in each of the types a photo may have.
PHOTO: dict[str, Any] = {t: {"schema": {"type": "string", "format": "binary"}} for t in PHOTO_TYPES}


class SpecIn(Strict):
    product_id: str
    name: Name
    content: dict[str, Any] = Field(
        description="measurements, attribute_checks, packaging_checks, aqls, inspection_level"
    )


class SpecRevisionIn(Strict):
    content: dict[str, Any]
    name: Name | None = None


class SampleIn(Strict):
    description: Text = ""


class ApprovalIn(Strict):
    note: Text = ""


class MeasurementIn(Strict):
    name: Annotated[str, Field(max_length=120)]
    value: Annotated[str, Field(max_length=40)]


class CheckIn(Strict):
    name: Annotated[str, Field(max_length=120)]
    passed: StrictBool
    note: Annotated[str, Field(max_length=500)] = ""


class InspectionIn(Strict):
    stage: Stage = Stage.FINAL_RANDOM
    defects: dict[str, Count] = Field({}, description="nonconformities found per class")
    defect_notes: dict[str, Text] = {}
    measurements: Annotated[list[MeasurementIn], Field(max_length=500)] = []
    checks: Annotated[list[CheckIn], Field(max_length=500)] = []
    notes: Text = ""


class SignOffIn(Strict):
    approve_reduced: StrictBool = Field(
        False, description="the authority allows reduced inspection once the score reaches 30"
    )
    production_steady: StrictBool = Field(True, description="false: irregular or delayed")


class DispositionIn(Strict):
    disposition: Disposition
    note: Annotated[str, Field(min_length=1, max_length=2000)]


@router.post("/specs", status_code=201)
async def create_spec(body: SpecIn, c: ContainerDep, who: Ops) -> dict[str, Any]:
    return plain_dict(
        await c.qc_specs.create_spec(body.product_id, body.name, body.content, actor=who.name)
    )


@router.post("/specs/{spec_id}/versions", status_code=201)
async def revise_spec(
    spec_id: str, body: SpecRevisionIn, c: ContainerDep, who: Ops
) -> dict[str, Any]:
    """A change creates a new version; earlier versions stay readable."""
    return plain_dict(
        await c.qc_specs.revise_spec(spec_id, body.content, actor=who.name, name=body.name)
    )


@router.get("/specs/{spec_id}")
async def get_spec(spec_id: str, c: ContainerDep, _: Ops) -> list[dict[str, Any]]:
    """Every version of the spec, oldest first (``frozen_at`` set once approved)."""
    return plain_list(await c.qc_specs.spec_versions(spec_id))


@router.post("/specs/{spec_id}/versions/{version}/golden-samples", status_code=201)
async def register_sample(
    spec_id: str,
    version: Annotated[int, Path(ge=1, le=MAX_INT32), Digits],
    body: SampleIn,
    c: ContainerDep,
    who: Ops,
) -> dict[str, Any]:
    return plain_dict(
        await c.qc_specs.register_sample(spec_id, version, body.description, actor=who.name)
    )


@router.post("/golden-samples/{sample_id}/approve")
async def approve_sample(
    sample_id: str, body: ApprovalIn, c: ContainerDep, who: Ops
) -> dict[str, Any]:
    """Sign off the golden sample: its spec version is frozen for production use."""
    return plain_dict(await c.qc_specs.approve_sample(sample_id, approver=who.name, note=body.note))


@router.get("/lots/{lot_id}/plan")
async def sampling_plan(
    lot_id: str, c: ContainerDep, _: Ops, stage: Stage = Stage.FINAL_RANDOM
) -> dict[str, Any]:
    """The ISO 2859-1 single sampling plan per defect class for this lot, at the
    severity the switching rules are in."""
    return plain_dict(await c.qc.plan(lot_id, stage))


@router.post("/lots/{lot_id}/inspections", status_code=201)
async def inspect(lot_id: str, body: InspectionIn, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """Record results; the verdict is computed per class. Nothing moves until sign-off."""
    return plain_dict(
        await c.qc.inspect(
            lot_id,
            body.stage,
            body.defects,
            inspector=who.name,
            measurements=[m.model_dump() for m in body.measurements],
            checks=[ch.model_dump() for ch in body.checks],
            defect_notes=body.defect_notes,
            notes=body.notes,
        )
    )


@router.get("/inspections/{inspection_id}")
async def get_inspection(inspection_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    return plain_dict(await c.qc_trace.inspection(inspection_id))


@router.post("/inspections/{inspection_id}/sign-off")
async def sign_off(
    inspection_id: str, c: ContainerDep, who: Ops, body: SignOffIn | None = None
) -> dict[str, Any]:
    """The gate. A final inspection that accepts moves the lot out of
    ``quality_control`` (pre-orders first, FIFO by payment time); one that rejects
    keeps it out of sale until a disposition."""
    body = body or SignOffIn()
    return plain_dict(
        await c.qc.sign_off(
            inspection_id,
            approver=who.name,
            approve_reduced=body.approve_reduced,
            production_steady=body.production_steady,
        )
    )


@router.post(
    "/inspections/{inspection_id}/photos",
    status_code=201,
    max_body_size=MAX_PHOTO_BYTES,
    openapi_extra={"requestBody": {"required": True, "content": PHOTO}},
)
async def add_photo(
    inspection_id: str,
    request: Request,
    c: ContainerDep,
    _: Ops,
    # The body's media type, described by the request body above, not as a parameter.
    content_type: Annotated[str, Header(include_in_schema=False)] = "",
    filename: str = "",
    defect_class: DefectClass | None = None,
    note: str = "",
) -> dict[str, Any]:
    """Upload one photo as the raw request body (``Content-Type: image/jpeg`` / png /
    webp, at most 10 MiB). Stored under the data directory."""
    data = await request.body()  # at most MAX_PHOTO_BYTES: a larger body is a 413 before this
    return await c.qc_trace.add_photo(
        inspection_id,
        data,
        content_type,
        filename=filename,
        defect_class=defect_class,
        note=note[:2000],
    )


@router.get(
    "/inspections/{inspection_id}/photos/{photo_id}",
    response_class=FileResponse,
    responses={200: {"description": "The photo", "content": PHOTO}},
)
async def get_photo(inspection_id: str, photo_id: str, c: ContainerDep, _: Ops) -> FileResponse:
    ins = await c.qc_trace.inspection(inspection_id)
    for photo in ins["photos"]:
        if photo["id"] == photo_id:
            return FileResponse(
                c.qc_trace.photo_path(photo["path"]), media_type=photo["content_type"]
            )
    raise NotFound(f"photo {photo_id} not found")


@router.post("/lots/{lot_id}/disposition")
async def dispose(lot_id: str, body: DispositionIn, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """For a rejected lot: ``rework`` (re-inspect), ``return`` to the manufacturer or
    ``scrap``; the last two are ``qc_fail`` stock movements."""
    return plain_dict(await c.qc.dispose(lot_id, body.disposition, actor=who.name, note=body.note))


@router.get("/lots/{lot_id}/trace")
async def trace_lot(lot_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """Lot → run → manufacturer, inspections, and every order that received its units."""
    return plain_dict(await c.qc_trace.trace_lot(lot_id))


@router.get("/orders/{order_id}/trace")
async def trace_order(order_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """Order line → lot → inspections → run → manufacturer."""
    return plain_dict(await c.qc_trace.trace_order(order_id))


@router.get("/switching/{manufacturer_id}/{product_id}")
async def switching(
    manufacturer_id: str, product_id: str, c: ContainerDep, _: Ops
) -> dict[str, Any]:
    """Switching state per defect class (normal / tightened / reduced / discontinued)."""
    return await c.qc.switching(manufacturer_id, product_id)


@router.post("/switching/{manufacturer_id}/{product_id}/resume")
async def resume(
    manufacturer_id: str, product_id: str, c: ContainerDep, who: Ops
) -> dict[str, Any]:
    """After corrective action: resume discontinued inspection on tightened severity."""
    return await c.qc.resume(manufacturer_id, product_id, actor=who.name)

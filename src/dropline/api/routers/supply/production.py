"""Manufacturers, production runs, milestones and receiving lots (ops)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field, StrictBool, StrictInt
from starlette.convertors import Convertor, register_url_convertor

from dropline.api.deps import ContainerDep, Ops
from dropline.api.fields import Rfc3339
from dropline.api.plain import parse_time, plain_dict, plain_list
from dropline.api.schemas import Currency, Name, Ordinal, Strict, Text
from dropline.domain.supply.production import Milestone, RunLine

router = APIRouter(prefix="/v1", tags=["production"])


class MilestoneKind(Convertor[str]):
    """A path segment that is a milestone's name: ``.../milestones/history`` is then no
    milestone, so a PATCH there is a 405 (only GET is there), not a 422 from the
    ``{kind}`` route that happened to match it."""

    regex = "|".join(m.value for m in Milestone)

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("milestone", MilestoneKind())

Short = Annotated[str, Field(max_length=200)]
Days = Annotated[StrictInt, Field(ge=0, le=365)]


class ManufacturerIn(Strict):
    name: Name
    contacts: Annotated[list[dict[str, Short]], Field(max_length=20)] = []
    sample_approver: Short = ""
    escalation_contact: Short = ""
    default_lead_time_days: Annotated[StrictInt, Field(ge=0, le=730)] = 0
    notes: Text = ""


class TierIn(Strict):
    min_quantity: Annotated[StrictInt, Field(ge=1, le=10_000_000)]
    unit_amount: Annotated[StrictInt, Field(ge=0, le=10_000_000_000)]


class RunLineIn(Strict):
    sku_id: str
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000_000)]
    moq: Annotated[StrictInt, Field(ge=0, le=10_000_000)] = 0
    cost_tiers: Annotated[list[TierIn], Field(max_length=20)] = []


class SpecRef(Strict):
    spec_id: str
    version: Ordinal


class ReorderRuleIn(Strict):
    threshold_pct: Annotated[StrictInt, Field(ge=1, le=100)]
    window_days: Annotated[StrictInt, Field(ge=1, le=365)]


class RunIn(Strict):
    manufacturer_id: str
    name: Name
    currency: Currency
    lines: Annotated[list[RunLineIn], Field(min_length=1, max_length=200)]
    moq: Annotated[StrictInt, Field(ge=0, le=10_000_000)] = 0
    deposit_amount: Annotated[StrictInt, Field(ge=0, le=10_000_000_000)] = 0
    handling_min_days: Days = 2
    handling_max_days: Days = 5
    moq_override_reason: Text = ""
    qc_spec: SpecRef | None = None
    previous_run_id: str | None = None
    reorder: ReorderRuleIn | None = None


class MilestoneIn(Strict):
    planned_at: Rfc3339 | None = Field(None, description="changing it needs a reason")
    clear_planned: StrictBool = Field(False, description="the date becomes unknown")
    actual_at: Rfc3339 | None = None
    owner: Short | None = None
    notes: Text | None = None
    reason: Text = ""


class LotIn(Strict):
    sku_id: str
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000_000)]
    batch_number: Annotated[str, Field(min_length=1, max_length=80)]


@router.post("/manufacturers", status_code=201)
async def create_manufacturer(body: ManufacturerIn, c: ContainerDep, _: Ops) -> dict[str, Any]:
    return plain_dict(
        await c.production.create_manufacturer(
            body.name,
            contacts=body.contacts,
            sample_approver=body.sample_approver,
            escalation_contact=body.escalation_contact,
            default_lead_time_days=body.default_lead_time_days,
            notes=body.notes,
        )
    )


@router.get("/manufacturers")
async def list_manufacturers(c: ContainerDep, _: Ops) -> list[dict[str, Any]]:
    return plain_list(await c.production.manufacturers())


@router.get("/manufacturers/{manufacturer_id}")
async def get_manufacturer(manufacturer_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    return plain_dict(await c.production.manufacturer(manufacturer_id))


@router.post("/runs", status_code=201)
async def create_run(body: RunIn, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """Create a run. Under MOQ it is refused (409 ``below_moq`` with the ``shortfall``)
    unless ``moq_override_reason`` is given."""
    run = await c.production.create_run(
        body.manufacturer_id,
        body.name,
        body.currency,
        [
            RunLine(
                ln.sku_id,
                ln.quantity,
                ln.moq,
                tuple((t.min_quantity, t.unit_amount) for t in ln.cost_tiers),
            )
            for ln in body.lines
        ],
        moq=body.moq,
        deposit_amount=body.deposit_amount,
        handling_min_days=body.handling_min_days,
        handling_max_days=body.handling_max_days,
        moq_override_reason=body.moq_override_reason,
        qc_spec=(body.qc_spec.spec_id, body.qc_spec.version) if body.qc_spec else None,
        previous_run_id=body.previous_run_id,
        reorder_threshold_pct=body.reorder.threshold_pct if body.reorder else None,
        reorder_window_days=body.reorder.window_days if body.reorder else None,
        actor=who.name,
    )
    return plain_dict(run)


@router.get("/runs")
async def list_runs(c: ContainerDep, _: Ops) -> list[dict[str, Any]]:
    return plain_list(await c.production.runs())


@router.get("/runs/{run_id}")
async def get_run(run_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """The run with its lines (received / incoming), milestones and ship estimate."""
    return plain_dict(await c.production.run(run_id))


@router.put("/runs/{run_id}/qc-spec")
async def set_qc_spec(run_id: str, body: SpecRef, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """Reference an approved (frozen) QC spec version."""
    return plain_dict(await c.production.set_qc_spec(run_id, body.spec_id, body.version))


@router.patch("/runs/{run_id}/milestones/{kind:milestone}")
async def set_milestone(
    run_id: str, kind: Milestone, body: MilestoneIn, c: ContainerDep, who: Ops
) -> dict[str, Any]:
    """Set a milestone. Moving the warehouse-intake date re-estimates pre-orders and
    sends delay notices (``preorder.delay_notice`` events and buyer messages). 422
    ``milestone_out_of_order`` when final QC would fall after the warehouse intake."""
    run = await c.production.set_milestone(
        run_id,
        kind,
        actor=who.name,
        planned_at=parse_time(body.planned_at, "planned_at"),
        clear_planned=body.clear_planned,
        actual_at=parse_time(body.actual_at, "actual_at"),
        owner=body.owner,
        notes=body.notes,
        reason=body.reason,
    )
    return plain_dict(run)


@router.get("/runs/{run_id}/milestones/history")
async def milestone_history(run_id: str, c: ContainerDep, _: Ops) -> list[dict[str, Any]]:
    """Every date change: which milestone, old and new value, who, when and why."""
    return plain_list(await c.production.milestone_history(run_id))


@router.post("/runs/{run_id}/lots", status_code=201)
async def receive_lot(run_id: str, body: LotIn, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """Receive units of the run as a lot; they go into ``quality_control``."""
    lot = await c.production.receive(
        run_id, body.sku_id, body.quantity, body.batch_number, actor=who.name
    )
    return plain_dict(lot)


@router.get("/runs/{run_id}/lots")
async def list_lots(run_id: str, c: ContainerDep, _: Ops) -> list[dict[str, Any]]:
    return plain_list(await c.qc_trace.lots(run_id))

"""CLI commands for production runs, quality control and pre-orders.

dropline runs ...        manufacturers, runs (MOQ), milestones, receiving lots
dropline qc ...          specs, golden samples, sampling plans, inspections, the gate
dropline preorders ...   pre-order offers, waiting orders, cancel/ship, due work

Every command prints JSON (datetimes as RFC 3339) so it can be piped to ``jq``.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from dropline.api.plain import parse_time, plain
from dropline.bootstrap import Container
from dropline.domain.errors import InvalidInput
from dropline.domain.production import RunLine
from dropline.services.preorders import preorder_dict

runs_app = typer.Typer(
    help="Manufacturers, production runs, milestones, lots.", no_args_is_help=True
)
qc_app = typer.Typer(help="QC specs, golden samples, inspections, the gate.", no_args_is_help=True)
preorders_app = typer.Typer(help="Pre-order offers and waiting orders.", no_args_is_help=True)


def _go(fn: Callable[[Container], Awaitable[Any]]) -> None:
    from dropline.cli import _run, console

    async def wrapped(c: Container) -> None:
        console.print_json(json.dumps(plain(await fn(c)), default=str))

    _run(wrapped)


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep:
            raise typer.BadParameter(f"{what} must look like name=value, got {v!r}")
        out[key.strip()] = val.strip()
    return out


def _json_file(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


# --------------------------------------------------------------------------- runs


@runs_app.command("manufacturer-add")
def manufacturer_add(
    name: str,
    approver: Annotated[str, typer.Option(help="who approves samples")] = "",
    escalation: Annotated[str, typer.Option(help="escalation contact")] = "",
    lead_time: Annotated[int, typer.Option(help="default lead time in days")] = 0,
    contact: Annotated[list[str], typer.Option(help="name=..., email=..., phone=...")] = [],  # noqa: B006
    notes: str = "",
) -> None:
    """Register a manufacturer."""
    contacts = [_pairs(list(contact), "contact")] if contact else []
    _go(
        lambda c: c.production.create_manufacturer(
            name,
            contacts=contacts,
            sample_approver=approver,
            escalation_contact=escalation,
            default_lead_time_days=lead_time,
            notes=notes,
        )
    )


@runs_app.command("manufacturers")
def manufacturers() -> None:
    """List manufacturers."""
    _go(lambda c: c.production.manufacturers())


@runs_app.command("create")
def run_create(
    manufacturer: Annotated[str, typer.Option(help="manufacturer id")],
    name: Annotated[str, typer.Option()],
    line: Annotated[list[str], typer.Option(help="SKU_ID:QTY[:MOQ], repeatable")],
    currency: str = "USD",
    moq: Annotated[int, typer.Option(help="minimum units for the whole run")] = 0,
    deposit: Annotated[int, typer.Option(help="deposit in minor units")] = 0,
    override_reason: Annotated[str, typer.Option(help="accept a run under MOQ")] = "",
    spec: Annotated[str, typer.Option(help="SPEC_ID:VERSION (approved)")] = "",
    handling: Annotated[str, typer.Option(help="handling days MIN-MAX")] = "2-5",
    reorder: Annotated[str, typer.Option(help="phased: PCT:DAYS sell-through rule")] = "",
    previous_run: Annotated[str | None, typer.Option(help="the batch this one follows")] = None,
    actor: str = "cli",
) -> None:
    """Create a production run (refused under MOQ unless --override-reason)."""
    lines = []
    for ln in line:
        parts = ln.split(":")
        if len(parts) not in (2, 3):
            raise typer.BadParameter(f"--line must be SKU_ID:QTY[:MOQ], got {ln!r}")
        lines.append(RunLine(parts[0], int(parts[1]), int(parts[2]) if len(parts) == 3 else 0))
    lo, _, hi = handling.partition("-")
    spec_ref = None
    if spec:
        sid, _, ver = spec.partition(":")
        spec_ref = (sid, int(ver or 1))
    pct, _, days = reorder.partition(":")
    _go(
        lambda c: c.production.create_run(
            manufacturer,
            name,
            currency,
            lines,
            moq=moq,
            deposit_amount=deposit,
            handling_min_days=int(lo),
            handling_max_days=int(hi or lo),
            moq_override_reason=override_reason,
            qc_spec=spec_ref,
            previous_run_id=previous_run,
            reorder_threshold_pct=int(pct) if reorder else None,
            reorder_window_days=int(days) if reorder else None,
            actor=actor,
        )
    )


@runs_app.command("list")
def run_list() -> None:
    """List runs with lines, milestones and ship estimates."""
    _go(lambda c: c.production.runs())


@runs_app.command("show")
def run_show(run_id: str) -> None:
    """One run: lines (received / incoming), milestones, ship estimate."""
    _go(lambda c: c.production.run(run_id))


@runs_app.command("set-spec")
def run_set_spec(run_id: str, spec_id: str, version: int) -> None:
    """Reference an approved QC spec version."""
    _go(lambda c: c.production.set_qc_spec(run_id, spec_id, version))


@runs_app.command("milestone")
def run_milestone(
    run_id: str,
    kind: Annotated[str, typer.Argument(help="e.g. production_start, warehouse_intake")],
    planned: Annotated[str | None, typer.Option(help="RFC 3339")] = None,
    unknown: Annotated[bool, typer.Option(help="the planned date becomes unknown")] = False,
    actual: Annotated[str | None, typer.Option(help="RFC 3339")] = None,
    owner: str | None = None,
    notes: str | None = None,
    reason: Annotated[str, typer.Option(help="why a planned date moved")] = "",
    actor: str = "cli",
) -> None:
    """Set a milestone; moving warehouse intake re-estimates pre-orders and notifies."""
    _go(
        lambda c: c.production.set_milestone(
            run_id,
            kind,
            actor=actor,
            planned_at=parse_time(planned, "planned"),
            clear_planned=unknown,
            actual_at=parse_time(actual, "actual"),
            owner=owner,
            notes=notes,
            reason=reason,
        )
    )


@runs_app.command("history")
def run_history(run_id: str) -> None:
    """Every milestone date change with who, when and why."""
    _go(lambda c: c.production.milestone_history(run_id))


@runs_app.command("receive")
def run_receive(
    run_id: str,
    sku_id: str,
    quantity: int,
    batch: Annotated[str, typer.Option()],
    actor: str = "cli",
) -> None:
    """Receive units as a lot into quality_control."""
    _go(lambda c: c.production.receive(run_id, sku_id, quantity, batch, actor=actor))


# --------------------------------------------------------------------------- QC


@qc_app.command("spec-create")
def spec_create(
    product_id: str,
    name: str,
    file: Annotated[Path, typer.Option(help="spec JSON")],
    actor: str = "cli",
) -> None:
    """Create a QC spec (version 1) from a JSON file."""
    content = _json_file(file)
    _go(lambda c: c.qc_specs.create_spec(product_id, name, content, actor=actor))


@qc_app.command("spec-revise")
def spec_revise(spec_id: str, file: Annotated[Path, typer.Option()], actor: str = "cli") -> None:
    """A new version of a spec (old versions stay readable)."""
    content = _json_file(file)
    _go(lambda c: c.qc_specs.revise_spec(spec_id, content, actor=actor))


@qc_app.command("spec-show")
def spec_show(spec_id: str) -> None:
    """Every version of a spec."""
    _go(lambda c: c.qc_specs.spec_versions(spec_id))


@qc_app.command("sample-register")
def sample_register(spec_id: str, version: int, description: str = "", actor: str = "cli") -> None:
    """Register a golden sample against a spec version."""
    _go(lambda c: c.qc_specs.register_sample(spec_id, version, description, actor=actor))


@qc_app.command("sample-approve")
def sample_approve(
    sample_id: str, approver: Annotated[str, typer.Option()], note: str = ""
) -> None:
    """Approve a golden sample: freezes its spec version."""
    _go(lambda c: c.qc_specs.approve_sample(sample_id, approver=approver, note=note))


@qc_app.command("lots")
def qc_lots(run: Annotated[str | None, typer.Option(help="run id")] = None) -> None:
    """List lots (status: quality_control, passed, rejected, rework, returned, scrapped)."""
    _go(lambda c: c.qc_trace.lots(run))


@qc_app.command("plan")
def qc_plan(lot_id: str, stage: str = "final_random") -> None:
    """The sampling plan per defect class for a lot."""
    _go(lambda c: c.qc.plan(lot_id, stage))


@qc_app.command("inspect")
def qc_inspect(
    lot_id: str,
    inspector: Annotated[str, typer.Option()],
    stage: str = "final_random",
    defect: Annotated[list[str], typer.Option(help="class=count, repeatable")] = [],  # noqa: B006
    measure: Annotated[list[str], typer.Option(help="name=value, repeatable")] = [],  # noqa: B006
    check: Annotated[list[str], typer.Option(help="name=pass|fail, repeatable")] = [],  # noqa: B006
    photo: Annotated[list[Path], typer.Option(help="image file, repeatable")] = [],  # noqa: B006
    notes: str = "",
) -> None:
    """Record an inspection (verdict per class from Ac/Re); then `qc sign-off`."""
    try:
        defects = {k: int(v) for k, v in _pairs(defect, "--defect").items()}
    except ValueError:
        raise typer.BadParameter("defect counts must be integers") from None
    measurements = [{"name": k, "value": v} for k, v in _pairs(measure, "--measure").items()]
    checks = [{"name": k, "passed": v == "pass"} for k, v in _pairs(check, "--check").items()]

    async def go(c: Container) -> dict[str, Any]:
        ins = await c.qc.inspect(
            lot_id,
            stage,
            defects,
            inspector=inspector,
            measurements=measurements,
            checks=checks,
            notes=notes,
        )
        for p in photo:
            ctype = mimetypes.guess_type(p.name)[0] or ""
            if not ctype:
                raise InvalidInput(f"cannot tell the image type of {p.name}")
            await c.qc_trace.add_photo(ins["id"], p.read_bytes(), ctype, filename=p.name)
        return await c.qc_trace.inspection(ins["id"])

    _go(go)


@qc_app.command("sign-off")
def qc_sign_off(
    inspection_id: str,
    approver: Annotated[str, typer.Option()],
    approve_reduced: Annotated[bool, typer.Option(help="allow reduced inspection")] = False,
    irregular: Annotated[bool, typer.Option(help="production is irregular/delayed")] = False,
) -> None:
    """Sign off an inspection; a final one opens or closes the gate."""
    _go(
        lambda c: c.qc.sign_off(
            inspection_id,
            approver=approver,
            approve_reduced=approve_reduced,
            production_steady=not irregular,
        )
    )


@qc_app.command("dispose")
def qc_dispose(
    lot_id: str,
    disposition: Annotated[str, typer.Argument(help="rework, return or scrap")],
    note: Annotated[str, typer.Option()],
    actor: str = "cli",
) -> None:
    """Disposition of a rejected lot."""
    _go(lambda c: c.qc.dispose(lot_id, disposition, actor=actor, note=note))


@qc_app.command("switching")
def qc_switching(manufacturer_id: str, product_id: str) -> None:
    """Switching state (normal/tightened/reduced/discontinued) per defect class."""
    _go(lambda c: c.qc.switching(manufacturer_id, product_id))


@qc_app.command("resume")
def qc_resume(manufacturer_id: str, product_id: str, actor: str = "cli") -> None:
    """Resume discontinued inspection (tightened) after corrective action."""
    _go(lambda c: c.qc.resume(manufacturer_id, product_id, actor=actor))


@qc_app.command("trace-lot")
def trace_lot(lot_id: str) -> None:
    """Lot → run → manufacturer, inspections, orders that received its units."""
    _go(lambda c: c.qc_trace.trace_lot(lot_id))


@qc_app.command("trace-order")
def trace_order(order_id: str) -> None:
    """Order → lots → inspections → run → manufacturer."""
    _go(lambda c: c.qc_trace.trace_order(order_id))


# --------------------------------------------------------------------------- pre-orders


@preorders_app.command("offer")
def preorder_offer(
    drop_id: str,
    sku_id: str,
    run: Annotated[str, typer.Option(help="production run id")],
    cap: Annotated[int, typer.Option()],
    closes: Annotated[str, typer.Option(help="RFC 3339 window close")],
    mode: Annotated[str, typer.Option(help="charge_now or authorize")] = "charge_now",
    limit: Annotated[int | None, typer.Option(help="per-buyer limit")] = None,
) -> None:
    """Offer a SKU in a drop as a pre-order of a run."""
    when = parse_time(closes, "closes")
    assert when is not None
    _go(lambda c: c.preorders.set_offer(drop_id, sku_id, run, cap, when, mode, limit))


@preorders_app.command("list")
def preorder_list(
    run: str | None = None, drop: str | None = None, status: str | None = None
) -> None:
    """Pre-orders, oldest payment first."""

    async def go(c: Container) -> list[dict[str, Any]]:
        return [
            preorder_dict(p)
            for p in await c.preorders.find(run_id=run, drop_id=drop, status=status)
        ]

    _go(go)


@preorders_app.command("show")
def preorder_show(order_id: str) -> None:
    """One pre-order and its notices."""

    async def go(c: Container) -> dict[str, Any]:
        return preorder_dict(await c.preorders.get(order_id)) | {
            "notices": await c.preorders.notices(order_id)
        }

    _go(go)


@preorders_app.command("cancel")
def preorder_cancel(
    order_id: str, reason: Annotated[str, typer.Option()], actor: str = "cli"
) -> None:
    """Cancel a waiting pre-order with a full refund."""

    async def go(c: Container) -> dict[str, Any]:
        return preorder_dict(await c.preorder_lifecycle.cancel(order_id, reason=reason, by=actor))

    _go(go)


@preorders_app.command("ship")
def preorder_ship(order_id: str) -> None:
    """Mark a ready pre-order shipped (captures an authorised payment)."""

    async def go(c: Container) -> dict[str, Any]:
        return preorder_dict(await c.preorder_lifecycle.ship(order_id))

    _go(go)


@preorders_app.command("process")
def preorder_process() -> None:
    """Do due work now (the server does it in the background): cancel + refund orders
    whose long delay was not consented to by the original date, capture authorisations
    about to lapse, propose reorders for phased runs."""

    async def go(c: Container) -> dict[str, Any]:
        return {
            "cancelled_and_refunded": await c.preorder_lifecycle.process_deadlines(),
            "captured": await c.preorder_lifecycle.capture_expiring(),
            "reorders_proposed": await c.preorder_allocation.check_reorders(),
        }

    _go(go)

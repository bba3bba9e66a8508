"""``dropline qc``: specs, golden samples, sampling plans, inspections, the gate.

Every command prints JSON (datetimes as RFC 3339) so it can be piped to ``jq``."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dropline.cli.console import emit_json, json_file, pairs
from dropline.domain.errors import InvalidInput

if TYPE_CHECKING:
    from dropline.bootstrap import Container

qc_app = typer.Typer(help="QC specs, golden samples, inspections, the gate.", no_args_is_help=True)


@qc_app.command("spec-create")
def spec_create(
    product_id: str,
    name: str,
    file: Annotated[Path, typer.Option(help="spec JSON")],
    actor: str = "cli",
) -> None:
    """Create a QC spec (version 1) from a JSON file."""
    content = json_file(file)
    emit_json(lambda c: c.qc_specs.create_spec(product_id, name, content, actor=actor))


@qc_app.command("spec-revise")
def spec_revise(spec_id: str, file: Annotated[Path, typer.Option()], actor: str = "cli") -> None:
    """A new version of a spec (old versions stay readable)."""
    content = json_file(file)
    emit_json(lambda c: c.qc_specs.revise_spec(spec_id, content, actor=actor))


@qc_app.command("spec-show")
def spec_show(spec_id: str) -> None:
    """Every version of a spec."""
    emit_json(lambda c: c.qc_specs.spec_versions(spec_id))


@qc_app.command("sample-register")
def sample_register(spec_id: str, version: int, description: str = "", actor: str = "cli") -> None:
    """Register a golden sample against a spec version."""
    emit_json(lambda c: c.qc_specs.register_sample(spec_id, version, description, actor=actor))


@qc_app.command("sample-approve")
def sample_approve(
    sample_id: str, approver: Annotated[str, typer.Option()], note: str = ""
) -> None:
    """Approve a golden sample: freezes its spec version."""
    emit_json(lambda c: c.qc_specs.approve_sample(sample_id, approver=approver, note=note))


@qc_app.command("lots")
def qc_lots(run: Annotated[str | None, typer.Option(help="run id")] = None) -> None:
    """List lots (status: quality_control, passed, rejected, rework, returned, scrapped)."""
    emit_json(lambda c: c.qc_trace.lots(run))


@qc_app.command("plan")
def qc_plan(lot_id: str, stage: str = "final_random") -> None:
    """The sampling plan per defect class for a lot."""
    emit_json(lambda c: c.qc.plan(lot_id, stage))


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
    """Record an inspection (verdict per class from Ac/Re on the defects plus every
    reading out of tolerance and every failed check of the class); then `qc sign-off`."""
    try:
        defects = {k: int(v) for k, v in pairs(defect, "--defect").items()}
    except ValueError:
        raise typer.BadParameter("defect counts must be integers") from None
    measurements = [{"name": k, "value": v} for k, v in pairs(measure, "--measure").items()]
    checks = [{"name": k, "passed": v == "pass"} for k, v in pairs(check, "--check").items()]

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

    emit_json(go)


@qc_app.command("sign-off")
def qc_sign_off(
    inspection_id: str,
    approver: Annotated[str, typer.Option()],
    approve_reduced: Annotated[bool, typer.Option(help="allow reduced inspection")] = False,
    irregular: Annotated[bool, typer.Option(help="production is irregular/delayed")] = False,
) -> None:
    """Sign off an inspection; a final one opens or closes the gate."""
    emit_json(
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
    emit_json(lambda c: c.qc.dispose(lot_id, disposition, actor=actor, note=note))


@qc_app.command("switching")
def qc_switching(manufacturer_id: str, product_id: str) -> None:
    """Switching state (normal/tightened/reduced/discontinued) per defect class."""
    emit_json(lambda c: c.qc.switching(manufacturer_id, product_id))


@qc_app.command("resume")
def qc_resume(manufacturer_id: str, product_id: str, actor: str = "cli") -> None:
    """Resume discontinued inspection (tightened) after corrective action."""
    emit_json(lambda c: c.qc.resume(manufacturer_id, product_id, actor=actor))


@qc_app.command("trace-lot")
def trace_lot(lot_id: str) -> None:
    """Lot → run → manufacturer, inspections, orders that received its units."""
    emit_json(lambda c: c.qc_trace.trace_lot(lot_id))


@qc_app.command("trace-order")
def trace_order(order_id: str) -> None:
    """Order → lots → inspections → run → manufacturer."""
    emit_json(lambda c: c.qc_trace.trace_order(order_id))

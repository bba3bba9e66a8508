"""``dropline runs``: manufacturers, production runs (MOQ), milestones, receiving lots.

Every command prints JSON (datetimes as RFC 3339) so it can be piped to ``jq``."""

from __future__ import annotations

from typing import Annotated

import typer

from dropline.api.plain import parse_time
from dropline.cli.console import emit_json, pairs
from dropline.domain.supply.production import RunLine

runs_app = typer.Typer(
    help="Manufacturers, production runs, milestones, lots.", no_args_is_help=True
)


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
    contacts = [pairs(list(contact), "contact")] if contact else []
    emit_json(
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
    emit_json(lambda c: c.production.manufacturers())


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
    emit_json(
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
    emit_json(lambda c: c.production.runs())


@runs_app.command("show")
def run_show(run_id: str) -> None:
    """One run: lines (received / incoming), milestones, ship estimate."""
    emit_json(lambda c: c.production.run(run_id))


@runs_app.command("set-spec")
def run_set_spec(run_id: str, spec_id: str, version: int) -> None:
    """Reference an approved QC spec version."""
    emit_json(lambda c: c.production.set_qc_spec(run_id, spec_id, version))


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
    emit_json(
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
    emit_json(lambda c: c.production.milestone_history(run_id))


@runs_app.command("receive")
def run_receive(
    run_id: str,
    sku_id: str,
    quantity: int,
    batch: Annotated[str, typer.Option()],
    actor: str = "cli",
) -> None:
    """Receive units as a lot into quality_control."""
    emit_json(lambda c: c.production.receive(run_id, sku_id, quantity, batch, actor=actor))

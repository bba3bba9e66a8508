"""``dropline quality``: the defect Pareto, alert thresholds and quality alerts.

Every command prints JSON (datetimes as RFC 3339) so it can be piped to ``jq``."""

from __future__ import annotations

from typing import Annotated

import typer

from dropline.cli.console import emit_json

quality_app = typer.Typer(
    help="Defect Pareto, alert thresholds, quality alerts.", no_args_is_help=True
)


@quality_app.command("pareto")
def quality_pareto(
    by: Annotated[str, typer.Option(help="sku, lot or manufacturer")] = "sku",
) -> None:
    """Buyer-reported defects grouped, most defective first, with rates and photos."""
    emit_json(lambda c: c.quality.pareto(by))


@quality_app.command("lot")
def quality_lot(lot_id: str) -> None:
    """A lot's delivered, remaining and defective units and defect rate."""
    emit_json(lambda c: c.quality.lot_figures(lot_id))


@quality_app.command("thresholds")
def quality_thresholds() -> None:
    """The thresholds (basis points) per manufacturer, ``*`` and the default."""
    emit_json(lambda c: c.quality.thresholds())


@quality_app.command("set-threshold")
def quality_set_threshold(
    manufacturer_id: Annotated[str, typer.Argument(help="a manufacturer id, or * for all")],
    percent: Annotated[str, typer.Argument(help="0 to 100, e.g. 2.5")],
) -> None:
    """Set the defect rate above which a lot of that manufacturer raises an alert."""
    emit_json(lambda c: c.quality.set_threshold(manufacturer_id, percent))


@quality_app.command("alerts")
def quality_alerts(
    status: Annotated[str | None, typer.Option(help="open or closed")] = None,
) -> None:
    """Quality alerts, newest first."""
    emit_json(lambda c: c.quality.alerts(status))


@quality_app.command("close")
def quality_close(
    alert_id: str,
    closing_lot: Annotated[str, typer.Option(help="a later lot of theirs that passed")],
    action: Annotated[str, typer.Option(help="the corrective action taken")],
    actor: str = "cli",
) -> None:
    """Close an alert with the corrective action and the lot that proved it."""
    emit_json(lambda c: c.quality.close(alert_id, action, closing_lot, by=actor))

"""``dropline suppliers``: supplier scorecards as JSON."""

from __future__ import annotations

import typer

from dropline.cli.console import emit_json

suppliers_app = typer.Typer(help="Supplier scorecards.", no_args_is_help=True)


@suppliers_app.command("scorecard")
def supplier_scorecard(manufacturer_id: str) -> None:
    """One manufacturer: milestones on time, slip, lead-time delta, first-pass lots,
    defect and return rates."""
    emit_json(lambda c: c.scorecards.supplier(manufacturer_id))


@suppliers_app.command("scorecards")
def supplier_scorecards() -> None:
    """Every manufacturer's scorecard."""
    emit_json(lambda c: c.scorecards.suppliers())

"""``dropline tracking``: tracking numbers from the warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from dropline.cli.console import console, run

if TYPE_CHECKING:
    from dropline.bootstrap import Container

tracking_app = typer.Typer(help="Tracking numbers from the warehouse.", no_args_is_help=True)


@tracking_app.command("import")
def tracking_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Mark orders shipped from a CSV: order_id,carrier,tracking_number[,tracking_url]
    (order_id: the ord_ id or the order number, DL-1042), with a progress bar.

    Good rows are applied, bad rows listed with their line number and reason; importing
    the same file again applies nothing twice. Exit code 1 if any row was rejected."""
    text = file.read_text(encoding="utf-8-sig")

    async def go(c: Container) -> int:
        columns = (
            TextColumn("importing rows"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("importing", total=None)

            def tick(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = await c.fulfilment.import_tracking(text, source="csv", progress=tick)
        console.print(
            f"{len(report.applied)} applied, {len(report.duplicates)} already imported, "
            f"{len(report.errors)} rejected"
        )
        if report.errors:
            table = Table("line", "code", "problem")
            for line, code, detail in report.errors:
                table.add_row(str(line), code, detail)
            console.print(table)
        return 1 if report.errors else 0

    code = run(go)
    if code:
        raise typer.Exit(code)

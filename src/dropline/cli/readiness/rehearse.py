"""``dropline rehearse DROP``: a dress rehearsal of the whole line on a copy of the
drop, through the configured real parts in test mode; exit code 1 when it fails."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from dropline.api.plain import plain
from dropline.cli.console import console, run

STYLE = {"pass": "green", "skip": "yellow", "fail": "red"}


def rehearse(
    drop_id: str,
    actor: Annotated[str, typer.Option(help="who runs it")] = "cli",
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
) -> None:
    """Rehearse a draft or scheduled drop end to end: holds, test payments (a decline,
    3-D Secure), the warehouse hand-off flagged as a test, tracking, a cancellation and
    a return with refunds, the report; then clean up. Prints each stage's verdict and
    the timings; exit code 1 when a stage fails."""
    result: dict[str, Any] = run(lambda c: c.rehearsals.run(drop_id, actor=actor))
    if as_json:
        console.print_json(json.dumps(plain(result), default=str))
    else:
        table = Table(title=f"Rehearsal {result['id']} of {drop_id}")
        for col in ("stage", "result", "seconds", "detail"):
            table.add_column(col)
        for st in result["stages"]:
            style = STYLE.get(st["status"], "white")
            table.add_row(
                st["stage"],
                f"[{style}]{st['status']}[/{style}]",
                f"{st['seconds']:.2f}",
                escape(st["detail"]),
            )
        console.print(table)
        for k, v in result["timings"].items():
            console.print(f"{k}: {v}")
        word = "[green]passed[/green]" if result["status"] == "passed" else "[red]failed[/red]"
        failed = f" at {result['failed_stage']}" if result["failed_stage"] else ""
        console.print(f"rehearsal {word}{failed}")
    if result["status"] != "passed":
        raise typer.Exit(1)

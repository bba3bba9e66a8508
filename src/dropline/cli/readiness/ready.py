"""``dropline drops ready DROP`` (and its older alias ``dropline ready DROP``): the
drop's readiness checklist; the exit code is 1 while an item blocks, so a script (or a
launch checklist) can stop on it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from dropline.api.plain import plain
from dropline.cli.console import console, run

STYLE = {"pass": "green", "warn": "yellow", "block": "red"}


def ready(
    drop_id: Annotated[str, typer.Argument(metavar="DROP", help="Drop id (drp_...).")],
    as_json: Annotated[bool, typer.Option("--json", help="print the checklist as JSON")] = False,
) -> None:
    """The readiness checklist of a drop: each item pass, warn or block with the
    evidence and what to do. Exit code 1 while anything blocks: with the gate enforced
    (the default) the drop then goes live only with an override reason.

    Example:

      dropline drops ready $DROP || echo "not ready yet"
    """
    report: dict[str, Any] = run(lambda c: c.readiness.checklist(drop_id))
    if as_json:
        console.print_json(json.dumps(plain(report), default=str))
    else:
        table = Table(
            title=f"Readiness of {escape(report['drop']['name'])} ({report['drop']['id']})"
        )
        for col in ("item", "status", "evidence", "what to do"):
            table.add_column(col)
        for item in report["items"]:
            st = item["status"]
            table.add_row(
                escape(item["title"]),
                f"[{STYLE[st]}]{st}[/{STYLE[st]}]",
                escape(item["evidence"]),
                escape(item["action"]),
            )
        console.print(table)
        verdict = report["verdict"]
        console.print(
            f"verdict: [{STYLE[verdict]}]{verdict}[/{STYLE[verdict]}] (gate: {report['gate']})"
        )
    if report["verdict"] == "block":
        raise typer.Exit(1)

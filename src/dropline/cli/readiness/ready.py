"""``dropline drops ready DROP`` (and its older alias ``dropline ready DROP``): the
drop's readiness checklist, as the running server computes it (``GET
/v1/drops/{id}/readiness``: the server's settings, such as the returns policy and the
payment keys, are what the gate checks when the drop goes live). The exit code is 1
while an item blocks, so a script (or a launch checklist) can stop on it."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from dropline.cli.console import JsonFlag, console, show
from dropline.cli.remote import KeyOpt, Server, UrlOpt, remote

STYLE = {"pass": "green", "warn": "yellow", "block": "red"}


def _print(report: dict[str, Any]) -> None:
    table = Table(title=f"Readiness of {escape(report['drop']['name'])} ({report['drop']['id']})")
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
    blocked = report.get("start_blocked")
    if blocked:
        console.print(
            f"[red]the scheduled start did not happen[/red] ({blocked['at']}): "
            + escape(blocked["detail"])
        )
    for o in report["overrides"]:
        console.print(f"override {o['at']} by {escape(o['actor'])}: {escape(o['reason'])}")
    verdict = report["verdict"]
    console.print(
        f"verdict: [{STYLE[verdict]}]{verdict}[/{STYLE[verdict]}] (gate: {report['gate']})"
    )


def ready(
    drop_id: Annotated[str, typer.Argument(metavar="DROP", help="Drop id (drp_...).")],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """The readiness checklist of a drop, from the running server: each item pass, warn
    or block with the evidence and what to do. Exit code 1 while anything blocks: with
    the gate enforced (the default) the drop then goes live only with an override
    reason (`dropline drops live DROP --override-reason TEXT`).

    Example:

      dropline drops ready $DROP || echo "not ready yet"
    """

    def go(server: Server) -> dict[str, Any]:
        report: dict[str, Any] = server.get(f"/v1/drops/{drop_id}/readiness")
        show(report, as_json, lambda: _print(report))
        return report

    if remote(url, api_key, go)["verdict"] == "block":
        raise typer.Exit(1)

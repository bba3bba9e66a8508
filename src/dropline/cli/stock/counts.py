"""``dropline counts``: blind count sessions: open, count, approve or reject variances,
close, and the count report.

Every command prints JSON (for ``jq``) except ``report --format csv|html``. ``--actor``
names who counts or approves: a variance over the threshold needs an approver other
than its counter."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from dropline.cli.console import console, emit_json, run

if TYPE_CHECKING:
    from dropline.bootstrap import Container

counts_app = typer.Typer(
    help="Count sessions: blind counts of bins or SKUs, variances, approvals, reports.",
    no_args_is_help=True,
)

Actor = Annotated[str, typer.Option(help="who counts, approves or closes (required)")]
Bin = Annotated[
    str | None, typer.Option("--bin", help="bin id or code; omit for the unplaced units")
]


@counts_app.command("open")
def open_count(
    actor: Actor,
    bin_refs: Annotated[list[str], typer.Option("--bin", help="a bin to count (repeat)")] = [],  # noqa: B006
    sku: Annotated[list[str], typer.Option(help="a SKU to count wherever it is (repeat)")] = [],  # noqa: B006
    blind: Annotated[bool, typer.Option(help="hide the expected figures from counters")] = True,
    threshold: Annotated[int, typer.Option(help="units booked without an approver")] = 0,
    note: str = "",
) -> None:
    """Open a count session of bins, of SKUs, or of SKUs in bins."""
    emit_json(
        lambda c: c.counts.open(
            bins=bin_refs, skus=sku, blind=blind, threshold=threshold, note=note, actor=actor
        )
    )


@counts_app.command("count")
def count(
    session_id: str,
    sku_id: str,
    actor: Actor,
    counted: Annotated[int | None, typer.Argument(help="units found (at least 1)")] = None,
    bin_ref: Bin = None,
    none_found: Annotated[bool, typer.Option(help="the place holds none of the SKU")] = False,
) -> None:
    """Record what was found of a SKU at a bin."""
    emit_json(
        lambda c: c.counts.count(
            session_id, bin_ref, sku_id, counted, none_found=none_found, actor=actor
        )
    )


def _decide(
    session_id: str, sku_id: str, bin_ref: str | None, approve: bool, actor: str, note: str
) -> None:
    emit_json(
        lambda c: c.counts.decide(
            session_id, bin_ref, sku_id, approve=approve, actor=actor, note=note
        )
    )


@counts_app.command("approve")
def approve(
    session_id: str,
    sku_id: str,
    actor: Actor,
    note: Annotated[str, typer.Option(help="why the variance is right")],
    bin_ref: Bin = None,
) -> None:
    """Approve a variance over the threshold: it is booked as count movements."""
    _decide(session_id, sku_id, bin_ref, True, actor, note)


@counts_app.command("reject")
def reject(
    session_id: str,
    sku_id: str,
    actor: Actor,
    note: Annotated[str, typer.Option(help="why it must be counted again")],
    bin_ref: Bin = None,
) -> None:
    """Reject a variance: the place must be counted again."""
    _decide(session_id, sku_id, bin_ref, False, actor, note)


@counts_app.command("close")
def close(session_id: str, actor: Actor) -> None:
    """Close the session (refused while a variance is open or a place is uncounted)."""
    emit_json(lambda c: c.counts.close(session_id, actor=actor))


@counts_app.command("cancel")
def cancel(session_id: str, actor: Actor) -> None:
    """Abandon the session; variances already booked stay booked."""
    emit_json(lambda c: c.counts.cancel(session_id, actor=actor))


@counts_app.command("show")
def show(
    session_id: str,
    actor: Annotated[str | None, typer.Option(help="who is looking (blind counts)")] = None,
) -> None:
    """The session and its lines (a blind count hides its figures from their counter)."""
    emit_json(lambda c: c.counts.get(session_id, viewer=actor))


@counts_app.command("list")
def list_counts(status: Annotated[str | None, typer.Option(help="open, closed")] = None) -> None:
    """Count sessions, newest first."""
    emit_json(lambda c: c.counts.list_sessions(status))


@counts_app.command("report")
def report(
    session_id: str,
    fmt: Annotated[Literal["csv", "html"], typer.Option("--format")] = "csv",
    out: Annotated[Path | None, typer.Option(help="file to write; default stdout")] = None,
    actor: Annotated[str | None, typer.Option(help="who is looking (blind counts)")] = None,
) -> None:
    """The count report as CSV or a printable HTML page."""
    from dropline.services.stock.counts import render_count_csv, render_count_html

    async def go(c: Container) -> str:
        data = await c.counts.get(session_id, viewer=actor)
        return render_count_csv(data) if fmt == "csv" else render_count_html(data)

    text = run(go)
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)
        console.print(f"wrote {out}")

"""``dropline bins``: bins, putting units away and moving them, the staging plan of a
drop, printable labels.

Every command prints JSON (for ``jq``) except ``labels``, which writes HTML."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dropline.cli.console import console, emit_json, run

if TYPE_CHECKING:
    from dropline.bootstrap import Container

bins_app = typer.Typer(
    help="Bins: where units are, moves between bins, staging a drop, labels.",
    no_args_is_help=True,
)

Actor = Annotated[str, typer.Option(help="who does it (kept in the ledger)")]


@bins_app.command("add")
def add(
    code: str,
    zone: Annotated[str, typer.Option(help="zone, e.g. A")] = "",
    label: Annotated[str, typer.Option(help="what the label says under the code")] = "",
) -> None:
    """Create a bin (its code is what is printed and scanned)."""

    async def go(c: Container) -> object:
        return await c.bins.get((await c.bins.create(code, zone, label)).id)

    emit_json(go)


@bins_app.command("list")
def list_bins(zone: Annotated[str | None, typer.Option(help="only this zone")] = None) -> None:
    """Every bin with the units it holds per SKU."""
    emit_json(lambda c: c.bins.list_bins(zone))


@bins_app.command("show")
def show(bin_ref: Annotated[str, typer.Argument(metavar="BIN", help="id or code")]) -> None:
    """One bin and what it holds."""
    emit_json(lambda c: c.bins.get(bin_ref))


@bins_app.command("where")
def where(sku_id: str) -> None:
    """Where a SKU's units on hand are: per bin, and unplaced."""

    async def go(c: Container) -> object:
        return asdict(await c.bins.placement(sku_id))

    emit_json(go)


@bins_app.command("move")
def move(
    sku_id: str,
    quantity: int,
    note: Annotated[str, typer.Option(help="why (kept in the ledger)")],
    from_bin: Annotated[str | None, typer.Option("--from", help="bin; omit: unplaced")] = None,
    to_bin: Annotated[str | None, typer.Option("--to", help="bin; omit: unplaced")] = None,
    actor: Actor = "cli",
) -> None:
    """Move units into a bin (put away), between bins, or out of one."""

    async def go(c: Container) -> object:
        placed = await c.bins.move(
            sku_id, quantity, from_bin=from_bin, to_bin=to_bin, actor=actor, note=note
        )
        return asdict(placed)

    emit_json(go)


@bins_app.command("stage")
def stage(
    drop_id: str,
    sku_id: str,
    bin_ref: Annotated[str, typer.Argument(metavar="BIN")],
    actor: Actor = "cli",
) -> None:
    """Plan which bin holds a drop's variant."""
    emit_json(lambda c: c.bins.stage(drop_id, sku_id, bin_ref, actor))


@bins_app.command("staging")
def staging(drop_id: str) -> None:
    """A drop's staging plan: each offered SKU's bin and whether it holds the offer."""
    emit_json(lambda c: c.bins.staging_plan(drop_id))


@bins_app.command("labels")
def labels(
    bin_refs: Annotated[list[str] | None, typer.Argument(metavar="[BIN]...")] = None,
    zone: Annotated[str | None, typer.Option(help="every bin of this zone")] = None,
    out: Annotated[Path, typer.Option(help="HTML file to write")] = Path("bin-labels.html"),
) -> None:
    """Printable bin labels (HTML): the given bins, or every bin (of a zone)."""
    html = run(lambda c: c.bins.labels_html(bin_refs or [], zone))
    out.write_text(html)
    console.print(f"wrote {out}")

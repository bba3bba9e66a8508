"""``dropline cues``: log the host's cues during a stream (a product pinned, a line
said, a promo) and list them; the lessons show each beside sales velocity with the lift
after it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from dropline.cli.console import add_columns, console, id_column, print_table, run, show
from dropline.domain.errors import InvalidInput
from dropline.domain.insight.funnel import CUE_KINDS
from dropline.services.serialize import rfc3339

if TYPE_CHECKING:
    from dropline.bootstrap import Container

cues_app = typer.Typer(
    help="Host cues during a stream, for the lessons' cue timeline.", no_args_is_help=True
)


def _at(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("--at must be an RFC 3339 time, e.g. 2026-12-12T20:05:00Z") from None
    if dt.tzinfo is None:
        raise InvalidInput("--at needs a time zone (use Z for UTC)")
    return dt.astimezone(UTC)


@cues_app.command("add")
def add(
    drop_id: Annotated[str, typer.Argument(help="the drop the stream sells")],
    kind: Annotated[str, typer.Option(help=f"one of {', '.join(CUE_KINDS)}")],
    text: Annotated[str, typer.Option(help="what the host said or did")] = "",
    sku: Annotated[str | None, typer.Option(help="the SKU pinned or named")] = None,
    product: Annotated[str | None, typer.Option(help="the product, when not one SKU")] = None,
    at: Annotated[str | None, typer.Option(help="when (RFC 3339); now if left out")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the cue as JSON")] = False,
) -> None:
    """Log one cue. The lift after it (units per minute after minus before) is in
    ``dropline lessons DROP`` and on /ui/lessons.

    Example: dropline cues add drp_... --kind pin --sku sku_... --text "Pinned the black hoodie"
    """

    async def go(c: Container) -> None:
        cue = await c.funnel.add_cue(
            drop_id, kind, text, at=_at(at), sku_id=sku, product_id=product, by="cli"
        )
        data = {**cue, "at": rfc3339(cue["at"]), "created_at": rfc3339(cue["created_at"])}
        show(data, as_json, lambda: console.print(f"cue {cue['id']} logged at {data['at']}"))

    run(go)


@cues_app.command("list")
def list_cues(
    drop_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="print the cues as JSON")] = False,
) -> None:
    """The drop's cues, oldest first, with full ids."""

    async def go(c: Container) -> None:
        cues = await c.funnel.cues(drop_id)
        data = [{**x, "at": rfc3339(x["at"]), "created_at": rfc3339(x["created_at"])} for x in cues]

        def table() -> None:
            t = Table()
            add_columns(t, "at", "kind")
            id_column(t, "sku")
            add_columns(t, "text", wrap=("text",))
            id_column(t)
            for x in data:
                t.add_row(x["at"], x["kind"], x["sku_id"] or "", x["text"], x["id"])
            print_table(t)

        show(data, as_json, table)

    run(go)

"""``dropline returns``: authorise, receive (units back into stock by disposition,
then the refund), cancel and list returns of shipped orders.

It reads and writes the database directly (``DROPLINE_DATABASE_URL``), like
``dropline report``; the server does not need to run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from dropline.cli.console import console, run
from dropline.domain.aftersales.returns import (
    Disposition,
    ReturnLineRequest,
    ReturnReason,
    parse_disposition,
    parse_reason,
)
from dropline.domain.errors import InvalidInput
from dropline.domain.money import Money

if TYPE_CHECKING:
    from dropline.bootstrap import Container
    from dropline.store.aftersales.repo import ReturnRecord

returns_app = typer.Typer(
    help="Returns of shipped orders: authorise, receive (units back into stock by "
    "disposition, then the refund), cancel, list.",
    no_args_is_help=True,
)


def _print(r: ReturnRecord) -> None:

    t = Table(title=f"Return {r.id} of order {r.order_id}: {r.status}")
    for col in ("line", "units", "reason", "disposition", "refund"):
        t.add_column(col, justify="right" if col in ("line", "units", "refund") else "left")
    for ln in r.lines:
        t.add_row(
            str(ln["line_no"]),
            str(ln["quantity"]),
            ln["reason"],
            ln.get("disposition") or "—",
            Money(int(ln["amount"]), r.currency).format(),
        )
    console.print(t)
    console.print(f"refund {Money(r.refund_amount, r.currency).format()}", end="")
    console.print(f"  [red]{r.refund_error}[/red]" if r.refund_error else "")


def _line(value: str) -> ReturnLineRequest:
    parts = value.split(":", 2)
    if len(parts) < 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise typer.BadParameter(f"a line looks like LINE:UNITS:REASON, got {value!r}")
    try:
        reason = parse_reason(parts[2])
    except InvalidInput as exc:
        raise typer.BadParameter(exc.detail) from None
    return ReturnLineRequest(int(parts[0]), int(parts[1]), reason)


def _disposition(value: str) -> tuple[int, Disposition]:
    line, sep, name = value.partition("=")
    if not sep or not line.isdigit():
        raise typer.BadParameter(
            f"a disposition looks like LINE=restock|inspect|scrap, got {value!r}"
        )
    try:
        return int(line), parse_disposition(name)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.detail) from None


@returns_app.command("request")
def return_request(
    order_id: str,
    line: Annotated[
        list[str],
        typer.Option(
            help="LINE:UNITS:REASON, repeatable; reasons: "
            + ", ".join(r.value for r in ReturnReason)
        ),
    ],
    note: str = "",
    actor: str = "cli",
) -> None:
    """Authorise a return of a shipped order: e.g. --line 1:2:defective --line 3:1:wrong_item."""

    lines = [_line(v) for v in line]

    async def go(c: Container) -> None:
        _print(await c.returns.request(order_id, lines, note=note, by=actor))

    run(go)


@returns_app.command("receive")
def return_receive(
    return_id: str,
    disposition: Annotated[
        list[str] | None,
        typer.Option(help="LINE=restock|inspect|scrap, repeatable; default from the reason"),
    ] = None,
    refund: Annotated[bool, typer.Option(help="refund now (--no-refund to hold it)")] = True,
    actor: str = "cli",
) -> None:
    """The parcel arrived: units back into stock by disposition, then the refund."""

    chosen = dict(_disposition(v) for v in disposition or [])

    async def go(c: Container) -> None:
        _print(await c.returns.receive(return_id, chosen, by=actor, refund=refund))

    run(go)


@returns_app.command("refund")
def return_refund(return_id: str) -> None:
    """Refund a received return now (idempotent)."""

    async def go(c: Container) -> None:
        _print(await c.returns.refund(return_id))

    run(go)


@returns_app.command("cancel")
def return_cancel(return_id: str, reason: str = "", actor: str = "cli") -> None:
    """Cancel a return that never arrived; its units can be returned again."""

    async def go(c: Container) -> None:
        _print(await c.returns.cancel(return_id, reason=reason, by=actor))

    run(go)


@returns_app.command("list")
def return_list(
    drop: Annotated[str | None, typer.Option(help="drop id")] = None,
    order: Annotated[str | None, typer.Option(help="order id")] = None,
    status: Annotated[
        str | None, typer.Option(help="requested, received, refunded or cancelled")
    ] = None,
    limit: int = 100,
) -> None:
    """Returns, oldest first, as a table."""

    async def go(c: Container) -> None:
        found = await c.returns.list_returns(
            drop_id=drop, order_id=order, status=status, limit=limit
        )
        t = Table(title=f"{len(found)} returns")
        for col in ("return", "order", "status", "units", "reasons", "refund", "created"):
            t.add_column(col)
        for r in found:
            t.add_row(
                r.id,
                r.order_id,
                r.status,
                str(sum(int(ln["quantity"]) for ln in r.lines)),
                ", ".join(sorted({ln["reason"] for ln in r.lines})),
                Money(r.refund_amount, r.currency).format(),
                r.created_at.strftime("%Y-%m-%d %H:%M"),
            )
        console.print(t)

    run(go)

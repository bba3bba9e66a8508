"""``dropline orders``: cancel an unshipped order and refund it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dropline.cli.console import console, run
from dropline.domain.money import Money

if TYPE_CHECKING:
    from dropline.bootstrap import Container

orders_app = typer.Typer(help="Orders: cancel one that has not shipped.", no_args_is_help=True)


@orders_app.command("cancel")
def order_cancel(
    order_id: str,
    reason: Annotated[str, typer.Option(help="why: shown to ops and sent to the warehouse")],
    actor: str = "cli",
) -> None:
    """Cancel a paid or handed-off order and refund it in full; its units go back to
    the drop's offer (to available once the drop ended) and the warehouse is told."""

    async def go(c: Container) -> None:
        o = await c.cancellations.cancel(order_id, reason=reason, by=actor)
        refunded = Money(o.refunded_amount, o.currency).format()
        console.print(f"order {o.id}: [bold]{o.status.value}[/bold], refunded {refunded}")
        if o.status.value != "refunded":
            console.print(f"[red]{o.status_reason}[/red] (the refund is retried in the background)")

    run(go)

"""``dropline preorders``: pre-order offers, waiting orders, cancel/ship, due work.

Every command prints JSON (datetimes as RFC 3339) so it can be piped to ``jq``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from dropline.api.plain import parse_time
from dropline.cli.console import emit_json

if TYPE_CHECKING:
    from dropline.bootstrap import Container
    from dropline.store.supply.preorders_repo import PreorderRecord

preorders_app = typer.Typer(help="Pre-order offers and waiting orders.", no_args_is_help=True)


def _preorder(p: PreorderRecord) -> dict[str, Any]:
    """``preorder_dict``, imported when a command runs (with the services it needs)."""
    from dropline.services.supply.preorders import preorder_dict

    return preorder_dict(p)


@preorders_app.command("offer")
def preorder_offer(
    drop_id: str,
    sku_id: str,
    run: Annotated[str, typer.Option(help="production run id")],
    cap: Annotated[int, typer.Option()],
    closes: Annotated[str, typer.Option(help="RFC 3339 window close")],
    mode: Annotated[str, typer.Option(help="charge_now or authorize")] = "charge_now",
    limit: Annotated[int | None, typer.Option(help="per-buyer limit")] = None,
) -> None:
    """Offer a SKU in a drop as a pre-order of a run."""
    when = parse_time(closes, "closes")
    assert when is not None
    emit_json(lambda c: c.preorders.set_offer(drop_id, sku_id, run, cap, when, mode, limit))


@preorders_app.command("list")
def preorder_list(
    run: str | None = None, drop: str | None = None, status: str | None = None
) -> None:
    """Pre-orders, oldest payment first."""

    async def go(c: Container) -> list[dict[str, Any]]:
        return [
            _preorder(p) for p in await c.preorders.find(run_id=run, drop_id=drop, status=status)
        ]

    emit_json(go)


@preorders_app.command("show")
def preorder_show(order_id: str) -> None:
    """One pre-order and its notices."""

    async def go(c: Container) -> dict[str, Any]:
        return _preorder(await c.preorders.get(order_id)) | {
            "notices": await c.preorders.notices(order_id)
        }

    emit_json(go)


@preorders_app.command("cancel")
def preorder_cancel(
    order_id: str, reason: Annotated[str, typer.Option()], actor: str = "cli"
) -> None:
    """Cancel an unshipped pre-order (waiting or ready) with a full refund."""

    async def go(c: Container) -> dict[str, Any]:
        return _preorder(await c.preorder_lifecycle.cancel(order_id, reason=reason, by=actor))

    emit_json(go)


@preorders_app.command("ship")
def preorder_ship(order_id: str) -> None:
    """Mark a ready pre-order shipped (captures an authorised payment)."""

    async def go(c: Container) -> dict[str, Any]:
        return _preorder(await c.preorder_lifecycle.ship(order_id))

    emit_json(go)


@preorders_app.command("process")
def preorder_process() -> None:
    """Do due work now (the server does it in the background): cancel + refund orders
    whose long delay was not consented to by the original date, capture authorisations
    about to lapse, propose reorders for phased runs."""

    async def go(c: Container) -> dict[str, Any]:
        return {
            "cancelled_and_refunded": await c.preorder_lifecycle.process_deadlines(),
            "captured": await c.preorder_lifecycle.capture_expiring(),
            "reorders_proposed": await c.preorder_allocation.check_reorders(),
        }

    emit_json(go)

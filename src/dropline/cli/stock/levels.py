"""``dropline stock``: receive, adjust and count units; the levels of every SKU and one
SKU's movement ledger."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from dropline.cli.console import (
    JsonFlag,
    add_columns,
    console,
    id_column,
    print_table,
    run,
    show,
)
from dropline.domain.catalog.items import full_label
from dropline.domain.catalog.variants import variant_key
from dropline.domain.stock.buckets import Bucket, StockLevel
from dropline.web.render import exact_time

if TYPE_CHECKING:
    from dropline.bootstrap import Container

stock_app = typer.Typer(
    help="""Stock: receive, adjust and count units, by SKU id or code. Every change is a
    movement in the ledger, with who and why.""",
    no_args_is_help=True,
)

Ref = Annotated[str, typer.Argument(metavar="SKU", help="SKU id or code.")]
Qty = Annotated[int, typer.Argument(metavar="QUANTITY", min=1)]
Note = Annotated[str, typer.Option(metavar="TEXT", help="Why: kept in the ledger.")]
BUCKETS = [b.value for b in Bucket]


def _level_table(rows: list[tuple[str, str, StockLevel]]) -> Table:
    table = Table()
    id_column(table, "sku")
    add_columns(table, "product — variant", wrap=("product — variant",))
    add_columns(table, ">available", ">reserved", ">committed", ">safety", ">QC", ">damaged")
    add_columns(table, ">on hand")
    for sku_id, label, lv in rows:
        table.add_row(
            sku_id,
            label,
            *(
                f"{v:,}"
                for v in (
                    lv.available,
                    lv.reserved,
                    lv.committed,
                    lv.safety,
                    lv.quality_control,
                    lv.damaged,
                    lv.on_hand,
                )
            ),
        )
    return table


def _print_level(label: str, level: StockLevel) -> None:
    print_table(_level_table([(level.sku_id, label, level)]))


async def _label(c: Container, sku_ref: str) -> tuple[str, str]:
    sku = await c.catalog.find_sku(sku_ref)
    product, _ = await c.catalog.get_product(sku.product_id)
    return sku.id, full_label(product.name, sku)


def _level_json(level: StockLevel) -> dict[str, int | str]:
    return asdict(level) | {"on_hand": level.on_hand}


@stock_app.command("receive")
def receive(
    ref: Ref,
    quantity: Qty,
    note: Annotated[str, typer.Option(metavar="TEXT", help="e.g. the delivery note.")] = "",
    into: Annotated[
        str,
        typer.Option(
            "--into", metavar="|".join(("available", "quality_control")), help="Where the units go."
        ),
    ] = "available",
    as_json: JsonFlag = False,
) -> None:
    """Units arriving at the warehouse (the safety buffer is topped up first).

    Examples:

      dropline stock receive LOGO-HOODIE-BLACK-M 60 --note "PO 1042"
      dropline products show "Logo Hoodie" --json | jq -r '.skus[].id' \\
        | xargs -I{} dropline stock receive {} 60
    """

    async def go(c: Container) -> None:
        sku_id, label = await _label(c, ref)
        level = await c.stock.receive(sku_id, quantity, bucket=Bucket(into), actor="cli", note=note)
        show(_level_json(level), as_json, lambda: _print_level(label, level))

    run(go)


@stock_app.command("adjust")
def adjust(
    ref: Ref,
    quantity: Qty,
    note: Note,
    from_bucket: Annotated[
        str | None, typer.Option("--from", metavar="BUCKET", help="Take the units from here.")
    ] = None,
    to_bucket: Annotated[
        str | None, typer.Option("--to", metavar="BUCKET", help="Put the units here.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Move units by hand, with a reason: --from alone writes units off, --to alone
    adds found units, both move them (to damaged counts as damage). Buckets:
    available, safety, quality_control, damaged.

    Examples:

      dropline stock adjust LOGO-HOODIE-BLACK-M 2 --from available --to damaged --note "torn seams"
      dropline stock adjust LOGO-HOODIE-BLACK-M 1 --to available --note "found in returns cage"
    """
    if from_bucket is None and to_bucket is None:
        raise typer.BadParameter("give --from, --to or both", param_hint="--from/--to")
    for b in (from_bucket, to_bucket):
        if b is not None and b not in BUCKETS:
            raise typer.BadParameter(f"{b!r} is not a bucket ({', '.join(BUCKETS)})")

    async def go(c: Container) -> None:
        sku_id, label = await _label(c, ref)
        level = await c.stock.move(
            sku_id,
            quantity,
            Bucket(from_bucket) if from_bucket else None,
            Bucket(to_bucket) if to_bucket else None,
            actor="cli",
            note=note,
        )
        show(_level_json(level), as_json, lambda: _print_level(label, level))

    run(go)


@stock_app.command("count")
def count(
    ref: Ref,
    counted: Annotated[int, typer.Argument(metavar="COUNTED", min=0, help="Units counted.")],
    note: Note,
    bucket: Annotated[str, typer.Option(metavar="BUCKET", help="What was counted.")] = "available",
    as_json: JsonFlag = False,
) -> None:
    """Record a physical count; a difference from the ledger becomes an adjustment.

    Example:

      dropline stock count LOGO-HOODIE-BLACK-M 58 --note "cycle count, bin A-01-02"
    """
    if bucket not in BUCKETS:
        raise typer.BadParameter(f"{bucket!r} is not a bucket ({', '.join(BUCKETS)})")

    async def go(c: Container) -> None:
        sku_id, label = await _label(c, ref)
        level, mv = await c.stock.count(sku_id, Bucket(bucket), counted, actor="cli", note=note)

        def table() -> None:
            if mv is None:
                console.print("the count matches the ledger: nothing to adjust")
            else:
                way = "more" if mv.to_bucket is not None else "fewer"
                console.print(f"counted {mv.quantity} {way} than the ledger: adjusted")
            _print_level(label, level)

        show(_level_json(level) | {"adjusted": mv is not None}, as_json, table)

    run(go)


@stock_app.command("list")
def list_(
    archived: Annotated[bool, typer.Option("--archived", help="Include archived SKUs.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The levels of every SKU, product by product, sizes small to large."""

    async def go(c: Container) -> None:
        levels = await c.stock.levels()
        rows = []
        for product, skus in await c.catalog.list_products(archived=archived):
            for sku in skus:
                if sku.id in levels:
                    key = variant_key(product.name, sku.attributes, sku.code)
                    rows.append((key, sku.id, full_label(product.name, sku), levels[sku.id]))
        rows.sort(key=lambda r: r[0])
        show(
            [_level_json(lv) | {"label": label} for _, _, label, lv in rows],
            as_json,
            lambda: print_table(_level_table([(i, label, lv) for _, i, label, lv in rows])),
        )

    run(go)


@stock_app.command("show")
def show_(
    ref: Ref,
    limit: Annotated[int, typer.Option(metavar="N", help="Movements to show.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """One SKU's levels and its latest movements in the ledger."""

    async def go(c: Container) -> None:
        sku_id, label = await _label(c, ref)
        level = await c.stock.level(sku_id)
        async with c.uow(readonly=True) as uow:
            moves = await uow.stock.movements(sku_id=sku_id, limit=max(1, min(limit, 1000)))

        def table() -> None:
            _print_level(label, level)
            t = Table("when", "units", "from", "to", "reason", "by", "note", title="ledger")
            for _, at, m in moves:
                t.add_row(
                    exact_time(at),
                    f"{m.quantity:,}",
                    str(m.from_bucket or ""),
                    str(m.to_bucket or ""),
                    str(m.reason),
                    m.actor,
                    m.note,
                )
            print_table(t)

        data = _level_json(level) | {
            "movements": [
                {"seq": seq, "at": at, "quantity": m.quantity, "from": m.from_bucket,
                 "to": m.to_bucket, "reason": m.reason, "actor": m.actor, "note": m.note}
                for seq, at, m in moves
            ]
        }  # fmt: skip
        show(data, as_json, table)

    run(go)

"""``dropline skus``: one variant at a time — add, list, show, edit, archive, restore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dropline.cli.catalog.tables import ordered, sku_json, sku_table
from dropline.cli.console import JsonFlag, console, pairs, print_table, run, show
from dropline.domain.money import parse_amount

if TYPE_CHECKING:
    from dropline.bootstrap import Container

skus_app = typer.Typer(
    help="""Variants (SKUs) one at a time: add, list, show, edit, archive.

    A SKU is named by its id (sku_...) or its code (LOGO-HOODIE-BLACK-M).""",
    no_args_is_help=True,
)

Ref = Annotated[str, typer.Argument(metavar="SKU", help="SKU id or code.")]
Attr = Annotated[
    list[str],
    typer.Option("--attr", metavar="NAME=VALUE", help="An attribute, e.g. size=M; repeat it."),
]


@skus_app.command("add")
def add(
    product: Annotated[str, typer.Argument(metavar="PRODUCT", help="Product id or name.")],
    code: Annotated[str, typer.Option(metavar="CODE", help="Unique code, e.g. TOTE-NAT.")],
    price: Annotated[str, typer.Option(metavar="PRICE", help="e.g. 25 or 25.00")],
    attr: Attr = [],  # noqa: B006
    currency: Annotated[str, typer.Option(metavar="CODE")] = "USD",
    bin_location: Annotated[str, typer.Option("--bin", metavar="BIN")] = "",
    safety_pct: Annotated[int, typer.Option(metavar="PCT", help="Safety buffer, 0–100 %.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Add one variant to a product.

    Example:

      dropline skus add "Logo Hoodie" --code LOGO-HOODIE-BLACK-XXL --price 70 \\
        --attr colour=Black --attr size=XXL
    """

    async def go(c: Container) -> None:
        p, _ = await c.catalog.find_product(product)
        sku = await c.catalog.create_sku(
            p.id,
            code,
            parse_amount(price, currency),
            currency,
            pairs(attr, "--attr"),
            safety_pct=safety_pct,
            bin_location=bin_location,
        )
        show(sku_json(sku), as_json, lambda: print_table(sku_table([sku], title=p.name)))

    run(go)


@skus_app.command("list")
def list_(
    product: Annotated[
        str | None, typer.Option(metavar="PRODUCT", help="Only this product's variants.")
    ] = None,
    archived: Annotated[bool, typer.Option("--archived", help="Include archived ones.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Every variant with its price and available stock, product by product."""

    async def go(c: Container) -> None:
        rows = await c.catalog.list_products(archived=archived)
        if product:
            p, skus = await c.catalog.find_product(product)
            rows = [(p, [s for s in skus if archived or not s.archived])]
        levels = await c.stock.levels()

        def table() -> None:
            for p, skus in rows:
                if skus:
                    print_table(sku_table(ordered(skus, p.name), levels, title=p.name))

        show([sku_json(s) for p, skus in rows for s in ordered(skus, p.name)], as_json, table)

    run(go)


@skus_app.command("show")
def show_(ref: Ref, as_json: JsonFlag = False) -> None:
    """One variant with its stock buckets."""

    async def go(c: Container) -> None:
        sku = await c.catalog.find_sku(ref)
        product, _ = await c.catalog.get_product(sku.product_id)
        level = await c.stock.level(sku.id)

        def table() -> None:
            print_table(sku_table([sku], {sku.id: level}, title=product.name))
            console.print(
                f"on hand {level.on_hand:,}: available {level.available:,}, reserved "
                f"{level.reserved:,}, committed {level.committed:,}, safety {level.safety:,}"
            )

        show(sku_json(sku) | {"stock": level.__dict__}, as_json, table)

    run(go)


@skus_app.command("edit")
def edit(
    ref: Ref,
    code: Annotated[str | None, typer.Option(metavar="CODE")] = None,
    price: Annotated[
        str | None,
        typer.Option(metavar="PRICE", help="New price in the SKU's currency (not while live)."),
    ] = None,
    attr: Annotated[
        list[str] | None,
        typer.Option("--attr", metavar="NAME=VALUE", help="Replaces all attributes; repeat."),
    ] = None,
    bin_location: Annotated[str | None, typer.Option("--bin", metavar="BIN")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a variant's code, price, attributes or bin.

    Example:

      dropline skus edit LOGO-HOODIE-BLACK-M --price 60 --bin A-01-02
    """

    async def go(c: Container) -> None:
        sku = await c.catalog.find_sku(ref)
        updated = await c.catalog.edit_sku(
            sku.id,
            code=code,
            price_amount=parse_amount(price, sku.price.currency) if price else None,
            attributes=pairs(attr, "--attr") if attr else None,
            bin_location=bin_location,
        )
        show(sku_json(updated), as_json, lambda: print_table(sku_table([updated])))

    run(go)


@skus_app.command("archive")
def archive(ref: Ref, as_json: JsonFlag = False) -> None:
    """Archive a variant (refused while a drop that has not ended offers it)."""

    async def go(c: Container) -> None:
        sku = await c.catalog.archive_sku((await c.catalog.find_sku(ref)).id, actor="cli")
        show(
            sku_json(sku),
            as_json,
            lambda: console.print(
                f"archived {sku.id} ({sku.code}); undo: dropline skus restore {sku.id}"
            ),
        )

    run(go)


@skus_app.command("restore")
def restore(ref: Ref, as_json: JsonFlag = False) -> None:
    """Restore an archived variant (its product must not be archived)."""

    async def go(c: Container) -> None:
        sku = await c.catalog.restore_sku((await c.catalog.find_sku(ref)).id, actor="cli")
        show(sku_json(sku), as_json, lambda: console.print(f"restored {sku.id} ({sku.code})"))

    run(go)

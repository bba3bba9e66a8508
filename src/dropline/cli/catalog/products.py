"""``dropline products``: create a product with its size × colour variants in one step,
list, show, edit, archive and restore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dropline.cli.catalog.tables import ordered, product_json, product_table, sku_table
from dropline.cli.console import JsonFlag, console, print_table, run, show
from dropline.domain.money import parse_amount

if TYPE_CHECKING:
    from dropline.bootstrap import Container

products_app = typer.Typer(
    help="""Products and their variants (SKUs): create, list, show, edit, archive.

    Nothing is deleted: archive a product made by mistake; it keeps its orders and
    stock, and cannot be offered until restored.""",
    no_args_is_help=True,
)

Ref = Annotated[str, typer.Argument(metavar="PRODUCT", help="Product id, or its exact name.")]


@products_app.command("create")
def create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="What buyers see.")],
    price: Annotated[
        str, typer.Option(metavar="PRICE", help="Price of every variant, e.g. 65 or 65.00.")
    ],
    colour: Annotated[
        list[str], typer.Option("--colour", metavar="COLOUR", help="A colour; repeat it.")
    ] = [],  # noqa: B006
    size: Annotated[
        list[str], typer.Option("--size", metavar="SIZE", help="A size; repeat it.")
    ] = [],  # noqa: B006
    currency: Annotated[str, typer.Option(metavar="CODE", help="ISO 4217 code.")] = "USD",
    description: Annotated[str, typer.Option(metavar="TEXT")] = "",
    code_prefix: Annotated[
        str,
        typer.Option(
            metavar="PREFIX", help="Start of every SKU code (default: the name, LOGO-HOODIE)."
        ),
    ] = "",
    safety_pct: Annotated[
        int, typer.Option(metavar="PCT", help="Safety buffer kept back, 0–100 %.")
    ] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Create a product and every colour × size variant of it at once (all or none).

    SKU codes are PREFIX-COLOUR-SIZE, e.g. LOGO-HOODIE-BLACK-M; sizes are ordered
    XS, S, M, L, XL, XXL. Without colours or sizes the product has one variant.

    Examples:

      dropline products create "Logo Hoodie" --price 65 \\
        --colour Black --colour Sand --size S --size M --size L
      dropline products create "Tote Bag" --price 25.00
    """

    async def go(c: Container) -> None:
        product, skus = await c.catalog.create_product_with_variants(
            name,
            description=description,
            price_amount=parse_amount(price, currency),
            currency=currency,
            colours=colour,
            sizes=size,
            code_prefix=code_prefix,
            safety_pct=safety_pct,
        )

        def table() -> None:
            console.print(
                f"created [bold]{product.name}[/bold] {product.id} with {len(skus)} "
                f"variant{'s' if len(skus) != 1 else ''}"
            )
            print_table(sku_table(ordered(skus, product.name)))
            console.print("[dim]next: dropline stock receive SKU QUANTITY — for each variant[/dim]")

        show(product_json(product, skus), as_json, table)

    run(go)


@products_app.command("list")
def list_(
    archived: Annotated[bool, typer.Option("--archived", help="Include archived ones.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Every product with its number of variants and price.

    Example:

      dropline products list --json | jq -r '.[].id'
    """

    async def go(c: Container) -> None:
        rows = await c.catalog.list_products(archived=archived)
        show(
            [product_json(p, s) for p, s in rows],
            as_json,
            lambda: print_table(product_table(rows)),
        )

    run(go)


@products_app.command("show")
def show_(ref: Ref, as_json: JsonFlag = False) -> None:
    """One product: its variants (full ids, codes, prices), stock and bins."""

    async def go(c: Container) -> None:
        product, skus = await c.catalog.find_product(ref)
        levels = await c.stock.levels()

        def table() -> None:
            state = " [dim](archived)[/dim]" if product.archived else ""
            console.print(f"[bold]{product.name}[/bold] {product.id}{state}")
            if product.description:
                console.print(product.description)
            print_table(sku_table(ordered(skus, product.name), levels))

        show(product_json(product, skus), as_json, table)

    run(go)


@products_app.command("edit")
def edit(
    ref: Ref,
    name: Annotated[str | None, typer.Option(metavar="NAME", help="New name.")] = None,
    description: Annotated[str | None, typer.Option(metavar="TEXT")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Rename a product or change its description; drops selling it show the change.

    Example:

      dropline products edit prd_... --name "Logo Hoodie (2025)"
    """

    async def go(c: Container) -> None:
        product, _ = await c.catalog.find_product(ref)
        await c.catalog.edit_product(product.id, name=name, description=description)
        product, skus = await c.catalog.get_product(product.id)
        show(
            product_json(product, skus),
            as_json,
            lambda: console.print(f"{product.id}: [bold]{product.name}[/bold]"),
        )

    run(go)


@products_app.command("archive")
def archive(ref: Ref, as_json: JsonFlag = False) -> None:
    """Archive a product and its variants. They keep their orders, stock and reports
    but cannot be offered; refused while a drop that has not ended offers one."""

    async def go(c: Container) -> None:
        product, _ = await c.catalog.find_product(ref)
        done = await c.catalog.archive_product(product.id, actor="cli")
        show(
            product_json(*await c.catalog.get_product(done.id)),
            as_json,
            lambda: console.print(
                f"archived {done.id} ({done.name}); undo: dropline products restore {done.id}"
            ),
        )

    run(go)


@products_app.command("restore")
def restore(ref: Ref, as_json: JsonFlag = False) -> None:
    """Restore an archived product and the variants archived with it."""

    async def go(c: Container) -> None:
        product, _ = await c.catalog.find_product(ref)
        done = await c.catalog.restore_product(product.id, actor="cli")
        show(
            product_json(*await c.catalog.get_product(done.id)),
            as_json,
            lambda: console.print(f"restored {done.id} ({done.name})"),
        )

    run(go)

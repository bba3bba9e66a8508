"""``dropline bundles``: SKUs sold together as one line — create, list, show, edit,
archive, restore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dropline.cli.catalog.tables import bundle_json, bundle_table
from dropline.cli.console import JsonFlag, console, print_table, run, show
from dropline.domain.catalog.items import Bundle, full_label
from dropline.domain.money import parse_amount

if TYPE_CHECKING:
    from dropline.bootstrap import Container

bundles_app = typer.Typer(
    help="""Bundles: SKUs sold together as one line, with no stock of their own (a
    bundle is available while every component is).""",
    no_args_is_help=True,
)

Ref = Annotated[str, typer.Argument(metavar="BUNDLE", help="Bundle id or code.")]


async def _names(c: Container, bundles: list[Bundle]) -> dict[str, str]:
    """Full labels (``Logo Hoodie — Black / M``) of the bundles' components."""
    out = {}
    for b in bundles:
        for comp in b.components:
            if comp.sku_id not in out:
                sku = await c.catalog.get_sku(comp.sku_id)
                product, _ = await c.catalog.get_product(sku.product_id)
                out[comp.sku_id] = full_label(product.name, sku)
    return out


@bundles_app.command("create")
def create(
    code: Annotated[str, typer.Argument(metavar="CODE", help="Unique code, e.g. HOODIE-TOTE.")],
    name: Annotated[str, typer.Argument(metavar="NAME", help="What buyers see.")],
    price: Annotated[str, typer.Option(metavar="PRICE", help="The bundle's price, e.g. 80.")],
    item: Annotated[
        list[str],
        typer.Option(
            "--item", metavar="SKU[:QTY]", help="A component (id or code, 1 unit unless :QTY)."
        ),
    ],
    currency: Annotated[str, typer.Option(metavar="CODE")] = "USD",
    as_json: JsonFlag = False,
) -> None:
    """Create a bundle of existing SKUs.

    Example:

      dropline bundles create HOODIE-TOTE "Hoodie + Tote" --price 80 \\
        --item LOGO-HOODIE-BLACK-M --item TOTE-BAG
    """

    async def go(c: Container) -> None:
        components = []
        for it in item:
            ref, _, qty = it.partition(":")
            if qty and not qty.isdigit():
                raise typer.BadParameter(f"--item must be SKU or SKU:QTY, got {it!r}")
            components.append(((await c.catalog.find_sku(ref)).id, int(qty or 1)))
        bundle = await c.catalog.create_bundle(
            code, name, parse_amount(price, currency), currency, components
        )
        names = await _names(c, [bundle])
        show(bundle_json(bundle), as_json, lambda: print_table(bundle_table([bundle], names)))

    run(go)


@bundles_app.command("list")
def list_(
    archived: Annotated[bool, typer.Option("--archived", help="Include archived ones.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Every bundle with its components named."""

    async def go(c: Container) -> None:
        bundles = await c.catalog.list_bundles(archived=archived)
        names = await _names(c, bundles)
        show(
            [bundle_json(b) for b in bundles],
            as_json,
            lambda: print_table(bundle_table(bundles, names)),
        )

    run(go)


@bundles_app.command("show")
def show_(ref: Ref, as_json: JsonFlag = False) -> None:
    """One bundle and its components."""

    async def go(c: Container) -> None:
        bundle = await c.catalog.find_bundle(ref)
        names = await _names(c, [bundle])
        show(bundle_json(bundle), as_json, lambda: print_table(bundle_table([bundle], names)))

    run(go)


@bundles_app.command("edit")
def edit(
    ref: Ref,
    name: Annotated[str | None, typer.Option(metavar="NAME")] = None,
    price: Annotated[
        str | None, typer.Option(metavar="PRICE", help="New price (not while a drop sells it).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Rename a bundle or change its price. Components never change: archive it and
    create another."""

    async def go(c: Container) -> None:
        bundle = await c.catalog.find_bundle(ref)
        updated = await c.catalog.edit_bundle(
            bundle.id,
            name=name,
            price_amount=parse_amount(price, bundle.price.currency) if price else None,
        )
        names = await _names(c, [updated])
        show(bundle_json(updated), as_json, lambda: print_table(bundle_table([updated], names)))

    run(go)


@bundles_app.command("archive")
def archive(ref: Ref, as_json: JsonFlag = False) -> None:
    """Archive a bundle (refused while a drop that has not ended sells it)."""

    async def go(c: Container) -> None:
        b = await c.catalog.archive_bundle((await c.catalog.find_bundle(ref)).id, actor="cli")
        show(
            bundle_json(b),
            as_json,
            lambda: console.print(
                f"archived {b.id} ({b.code}); undo: dropline bundles restore {b.id}"
            ),
        )

    run(go)


@bundles_app.command("restore")
def restore(ref: Ref, as_json: JsonFlag = False) -> None:
    """Restore an archived bundle (every component must be active)."""

    async def go(c: Container) -> None:
        b = await c.catalog.restore_bundle((await c.catalog.find_bundle(ref)).id, actor="cli")
        show(bundle_json(b), as_json, lambda: console.print(f"restored {b.id} ({b.code})"))

    run(go)

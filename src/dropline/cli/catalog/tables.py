"""The catalog's Rich tables and JSON shapes, shared by ``products``, ``skus`` and
``bundles``: full ids, variants in wearing order, one money format."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.table import Table

from dropline.cli.console import add_columns, id_column
from dropline.domain.catalog.items import Bundle, Product, Sku
from dropline.domain.catalog.variants import variant_key
from dropline.domain.stock.buckets import StockLevel


def ordered(skus: Iterable[Sku], product_name: str = "") -> list[Sku]:
    """Variants as a person reads them: colour, then size small to large."""
    return sorted(skus, key=lambda s: variant_key(product_name, s.attributes, s.code))


def state(archived: bool) -> str:
    return "[dim]archived[/dim]" if archived else "active"


def sku_table(
    skus: Iterable[Sku], levels: Mapping[str, StockLevel] | None = None, title: str = ""
) -> Table:
    """One row per SKU: id, code, variant, price, available units (with ``levels``),
    bin and whether it is archived."""
    table = Table(title=title or None, title_justify="left")
    id_column(table)
    add_columns(table, "code", "variant", ">price", wrap=("variant",))
    if levels is not None:
        add_columns(table, ">available")
    add_columns(table, "bin", "state")
    for s in skus:
        row = [s.id, s.code, s.label(), s.price.format()]
        if levels is not None:
            lv = levels.get(s.id)
            row.append(f"{lv.available:,}" if lv else "0")
        table.add_row(*row, s.bin_location, state(s.archived))
    return table


def product_table(rows: Iterable[tuple[Product, list[Sku]]]) -> Table:
    table = Table()
    id_column(table)
    add_columns(table, "product", ">variants", ">price", "state", wrap=("product",))
    for p, skus in rows:
        prices = sorted({s.price for s in skus})
        price = "" if not prices else prices[0].format()
        if len(prices) > 1:
            price += f" – {prices[-1].format()}"
        table.add_row(p.id, p.name, str(len(skus)), price, state(p.archived))
    return table


def bundle_table(bundles: Iterable[Bundle], names: Mapping[str, str]) -> Table:
    """Bundles with their components named (``names``: SKU id → full label)."""
    table = Table()
    id_column(table)
    add_columns(table, "code", "name", ">price", "components", "state", wrap=("name", "components"))
    for b in bundles:
        parts = ", ".join(f"{c.quantity} × {names.get(c.sku_id, c.sku_id)}" for c in b.components)
        table.add_row(b.id, b.code, b.name, b.price.format(), parts, state(b.archived))
    return table


def sku_json(s: Sku) -> dict[str, Any]:
    return {
        "id": s.id,
        "product_id": s.product_id,
        "code": s.code,
        "attributes": dict(s.attributes),
        "price": {"amount": s.price.amount, "currency": s.price.currency},
        "bin_location": s.bin_location,
        "archived": s.archived,
    }


def product_json(p: Product, skus: Iterable[Sku]) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "archived": p.archived,
        "skus": [sku_json(s) for s in ordered(skus, p.name)],
    }


def bundle_json(b: Bundle) -> dict[str, Any]:
    return {
        "id": b.id,
        "code": b.code,
        "name": b.name,
        "price": {"amount": b.price.amount, "currency": b.price.currency},
        "components": [{"sku_id": c.sku_id, "quantity": c.quantity} for c in b.components],
        "archived": b.archived,
    }

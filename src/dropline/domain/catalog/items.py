"""Catalog: products, their variants as SKUs, and bundles of SKUs.

A bundle sells as one line and consumes its components (SKU × quantity); it has no stock
of its own, so its availability is the minimum over its components.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dropline.domain.errors import InvalidInput, NotFound
from dropline.domain.live.holds import HoldItem, ItemKind
from dropline.domain.money import Money


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Sku:
    """A sellable variant: ``attributes`` such as ``{"colour": "Black", "size": "M"}``."""

    id: str
    product_id: str
    code: str
    price: Money
    attributes: Mapping[str, str] = field(default_factory=dict)
    safety_qty: int = 0
    safety_pct: int = 0
    bin_location: str = ""

    def label(self) -> str:
        """Short human label for host cues: ``Black / M`` or the SKU code."""
        return " / ".join(self.attributes.values()) or self.code


@dataclass(frozen=True)
class BundleComponent:
    sku_id: str
    quantity: int


@dataclass(frozen=True)
class Bundle:
    id: str
    code: str
    name: str
    price: Money
    components: tuple[BundleComponent, ...]


def validate_bundle_components(components: Iterable[BundleComponent]) -> None:
    """A bundle needs at least one component, each used once with a positive quantity."""
    comps = list(components)
    if not comps:
        raise InvalidInput("a bundle needs at least one component")
    seen: set[str] = set()
    for c in comps:
        if c.quantity < 1:
            raise InvalidInput("bundle component quantities must be at least 1", sku_id=c.sku_id)
        if c.sku_id in seen:
            raise InvalidInput("a SKU appears twice in the bundle", sku_id=c.sku_id)
        seen.add(c.sku_id)


def expand_items(items: Iterable[HoldItem], bundles: Mapping[str, Bundle]) -> dict[str, int]:
    """Units per SKU for a list of items: bundles multiplied out, everything summed.

    This is what the engine takes atomically, so a bundle and a single line sharing a
    component cannot together take more of it than exists.
    """
    units: dict[str, int] = {}
    for item in items:
        if item.kind is ItemKind.SKU:
            units[item.ref] = units.get(item.ref, 0) + item.quantity
            continue
        bundle = bundles.get(item.ref)
        if bundle is None:
            raise NotFound(f"bundle {item.ref} is not offered in this drop", bundle_id=item.ref)
        for comp in bundle.components:
            units[comp.sku_id] = units.get(comp.sku_id, 0) + comp.quantity * item.quantity
    return units


def bundle_availability(bundle: Bundle, remaining: Mapping[str, int]) -> int:
    """How many of the bundle can still be held: the minimum over its components."""
    return min(remaining.get(c.sku_id, 0) // c.quantity for c in bundle.components)

"""Catalog: products, their variants as SKUs, and bundles of SKUs.

A bundle sells as one line and consumes its components (SKU × quantity); it has no stock
of its own, so its availability is the minimum over its components.

Nothing in the catalog is ever deleted: a product, SKU or bundle made by mistake or no
longer sold is *archived*. It keeps its history (orders, stock movements, reports name
it) but cannot be offered, bundled or given new variants (``ensure_active``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dropline.domain.errors import Archived, InvalidInput, NotFound
from dropline.domain.live.holds import HoldItem, ItemKind
from dropline.domain.money import Money


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    description: str = ""
    archived: bool = False


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
    archived: bool = False

    def label(self) -> str:
        """Short human label of the variant: ``Black / M`` or the SKU code."""
        return " / ".join(self.attributes.values()) or self.code


def full_label(product_name: str, sku: Sku) -> str:
    """What a person reads wherever one SKU is named (cues, alerts, lists, flashes):
    the product and the variant, ``Logo Hoodie — Black / M``; a SKU without attributes
    is its product's name alone (its code when the product is unknown)."""
    label = sku.label()
    if not product_name:
        return label
    return f"{product_name} — {label}" if label != sku.code else product_name


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
    archived: bool = False


def ensure_active(item: Product | Sku | Bundle) -> None:
    """Raise ``Archived`` (409) for an archived item: it cannot be offered in a drop,
    put in a bundle or given a new variant. The problem names the item so the caller
    can restore it or pick another."""
    if not item.archived:
        return
    kind, field_name = {
        Product: ("product", "product_id"),
        Sku: ("SKU", "sku_id"),
        Bundle: ("bundle", "bundle_id"),
    }[type(item)]
    name = item.code if isinstance(item, Sku) else item.name
    raise Archived(
        f"{kind} {name} ({item.id}) is archived; restore it first", **{field_name: item.id}
    )


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

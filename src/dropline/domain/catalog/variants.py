"""Variant order: sizes in wearing order (XXS < XS < S < M < L < XL < XXL < 3XL), then
numeric sizes by value, then anything else alphabetically.

Sorting a hoodie's variants as text gives L, M, S, XL; every list a person reads (the
CLI, the ``/ui`` pages, the monitor, the report) sorts with ``variant_key`` instead, so
the same product's sizes always read small to large within each colour.
"""

from __future__ import annotations

from collections.abc import Mapping

# Wearing order; aliases share a rank (XXL is 2XL).
_SIZES: dict[str, int] = {}
for _rank, _names in enumerate(
    (
        ("XXXS", "3XS"),
        ("XXS", "2XS"),
        ("XS",),
        ("S", "SMALL"),
        ("M", "MEDIUM"),
        ("L", "LARGE"),
        ("XL",),
        ("XXL", "2XL"),
        ("XXXL", "3XL"),
        ("XXXXL", "4XL"),
        ("XXXXXL", "5XL"),
    )
):
    for _name in _names:
        _SIZES[_name] = _rank


def size_rank(value: str) -> tuple[int, float, str]:
    """A sort key for one size: letter sizes first in wearing order, then numbers (shoe
    and waist sizes, ``42``, ``9.5``) by value, then the rest (``One size``) by text."""
    text = value.strip()
    rank = _SIZES.get(text.upper())
    if rank is not None:
        return (0, float(rank), "")
    try:
        return (1, float(text), "")
    except ValueError:
        return (2, 0.0, text.casefold())


def variant_key(product: str, attributes: Mapping[str, str], code: str = "") -> tuple[object, ...]:
    """A sort key for a SKU: its product's name, then its attributes in their own order
    (a ``size`` attribute by ``size_rank``, any other by text), then its code."""
    parts: list[object] = [product.casefold()]
    for name, value in attributes.items():
        if name.strip().lower() == "size":
            parts.append(size_rank(value))
        else:
            parts.append((3, 0.0, str(value).casefold()))
    return (*parts[:1], tuple(parts[1:]), code)

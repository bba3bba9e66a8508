"""Variant order: sizes in wearing order (XXS < XS < S < M < L < XL < XXL < 3XL), then
numeric sizes by value, then anything else alphabetically.

Sorting a hoodie's variants as text gives L, M, S, XL; every list a person reads (the
CLI, the ``/ui`` pages, the monitor, the report) sorts with ``variant_key`` instead, so
the same product's sizes always read small to large within each colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dropline.domain.errors import InvalidInput

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


def code_part(text: str, limit: int = 20) -> str:
    """``Logo Hoodie`` → ``LOGO-HOODIE``: upper-case letters and digits, words joined by
    ``-``, for SKU codes a warehouse can read aloud."""
    words = "".join(ch if ch.isascii() and ch.isalnum() else " " for ch in text).split()
    return "-".join(words).upper()[:limit].strip("-")


def variant_matrix(
    prefix: str, colours: Sequence[str], sizes: Sequence[str]
) -> list[tuple[str, dict[str, str]]]:
    """Every colour × size of a product as ``(code, attributes)``, colours in the order
    given and sizes in wearing order: ``LOGO-HOODIE-BLACK-M``, ``{"colour": "Black",
    "size": "M"}``. Either list may be empty (a one-size product in colours, or sizes
    of one colour); both empty is one variant with no attributes. A value given twice
    is ``InvalidInput``, as is a code part that would be empty."""
    cleaned: dict[str, list[str]] = {}
    for name, values in (("colour", colours), ("size", sizes)):
        seen: set[str] = set()
        out = []
        for v in values:
            v = v.strip()
            if not v:
                continue
            if v.casefold() in seen:
                raise InvalidInput(f"{name} {v!r} is given twice", field=name)
            if not code_part(v):
                raise InvalidInput(f"{name} {v!r} needs a letter or digit", field=name)
            seen.add(v.casefold())
            out.append(v)
        cleaned[name] = out
    cleaned["size"].sort(key=size_rank)
    base = code_part(prefix, 40)
    if not base:
        raise InvalidInput("a SKU code prefix needs a letter or digit", field="code_prefix")
    rows: list[tuple[str, dict[str, str]]] = []
    for colour in cleaned["colour"] or [""]:
        for size in cleaned["size"] or [""]:
            attrs = {k: v for k, v in (("colour", colour), ("size", size)) if v}
            code = "-".join([base, *(code_part(v) for v in attrs.values())])
            rows.append((code, attrs))
    return rows


#: The sizes a new product's form offers as checkboxes (any other can be typed).
SIZE_CHOICES = ("XS", "S", "M", "L", "XL", "XXL")

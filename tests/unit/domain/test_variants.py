"""Variant order (sizes in wearing order, then numbers, then the rest) and the size ×
colour matrix of a new product."""

from __future__ import annotations

import pytest

from dropline.domain.catalog.variants import code_part, size_rank, variant_key, variant_matrix
from dropline.domain.errors import InvalidInput


def test_sizes_sort_in_wearing_order_then_numbers_then_text() -> None:
    sizes = ["XL", "One size", "M", "42", "2XL", "S", "L", "9.5", "XS", "xxl"]
    assert sorted(sizes, key=size_rank) == [
        "XS", "S", "M", "L", "XL", "2XL", "xxl", "9.5", "42", "One size",
    ]  # fmt: skip


def test_variants_sort_by_product_then_colour_then_size() -> None:
    rows = [
        ("Logo Hoodie", {"colour": "Sand", "size": "S"}),
        ("Logo Hoodie", {"colour": "Black", "size": "XL"}),
        ("Dad Cap", {"size": "One size"}),
        ("Logo Hoodie", {"colour": "Black", "size": "M"}),
    ]
    ordered = sorted(rows, key=lambda r: variant_key(r[0], r[1]))
    assert [f"{p} {'/'.join(a.values())}" for p, a in ordered] == [
        "Dad Cap One size",
        "Logo Hoodie Black/M",
        "Logo Hoodie Black/XL",
        "Logo Hoodie Sand/S",
    ]


def test_matrix_codes_and_order() -> None:
    rows = variant_matrix("Logo Hoodie", ["Black", "Forest Green"], ["L", "S"])
    assert rows == [
        ("LOGO-HOODIE-BLACK-S", {"colour": "Black", "size": "S"}),
        ("LOGO-HOODIE-BLACK-L", {"colour": "Black", "size": "L"}),
        ("LOGO-HOODIE-FOREST-GREEN-S", {"colour": "Forest Green", "size": "S"}),
        ("LOGO-HOODIE-FOREST-GREEN-L", {"colour": "Forest Green", "size": "L"}),
    ]
    assert variant_matrix("Tote Bag", [], []) == [("TOTE-BAG", {})]
    assert variant_matrix("Cap", [], ["One size"]) == [("CAP-ONE-SIZE", {"size": "One size"})]
    assert code_part("Café crème #2") == "CAF-CR-ME-2"
    with pytest.raises(InvalidInput):
        variant_matrix("Tee", ["Black", "black"], [])
    with pytest.raises(InvalidInput):
        variant_matrix("Tee", ["★"], [])
    with pytest.raises(InvalidInput):
        variant_matrix("★", [], [])

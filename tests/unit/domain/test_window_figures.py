"""What each access window sold and passed on (``domain/live/window_figures.py``)."""

from __future__ import annotations

from dropline.domain.live.access import AccessWindow
from dropline.domain.live.window_figures import charged_at, current_index, window_figures

GOLD = AccessWindow(100.0, ("gold",), {"a": 3, "b": 1}, "Gold")
MEMBERS = AccessWindow(200.0, ("*",), {"a": 2}, "Members")
PUBLIC = AccessWindow(300.0, (), None, "Everyone")


def test_leftovers_flow_on_once_the_next_window_opens() -> None:
    sales = [(150.0, {"a": 1}), (199.0, {"a": 1, "b": 1}), (250.0, {"a": 3})]
    gold, members, public = window_figures([GOLD, MEMBERS, PUBLIC], sales, 310.0)
    assert [(s.sku_id, s.allocated, s.carried_in, s.sold, s.leftovers) for s in gold.skus] == [
        ("a", 3, 0, 2, 1),
        ("b", 1, 0, 1, 0),
    ]
    # members had its 2 and gold's 1 leftover of a, and gold's 0 of b
    assert [(s.sku_id, s.allocated, s.carried_in, s.sold, s.leftovers) for s in members.skus] == [
        ("a", 2, 1, 3, 0),
        ("b", 0, 0, 0, 0),
    ]
    assert (gold.sold, gold.leftovers, members.leftovers) == (3, 1, 0)
    assert public.current and not members.current and public.leftovers is None
    assert [s.allocated for s in public.skus] == [None, None]


def test_the_open_window_has_no_leftovers_yet_and_early_sales_count_nowhere() -> None:
    sales = [(50.0, {"a": 5}), (120.0, {"a": 1})]
    gold, members, public = window_figures([GOLD, MEMBERS, PUBLIC], sales, 150.0)
    assert [(s.sku_id, s.sold, s.leftovers) for s in gold.skus] == [("a", 1, None), ("b", 0, None)]
    assert gold.current and gold.open and not members.open
    assert members.sold == 0 and public.skus == ()
    assert current_index([GOLD, MEMBERS], 99.0) is None
    assert current_index([GOLD, MEMBERS], 200.0) == 1


def test_a_sale_counts_in_the_window_the_engine_charged_it_to() -> None:
    """Held at 190 in gold, paid at 205 in the members' window: the engine charged
    gold's allocation at the hold, so gold sold it and passed nothing on."""
    held_in_gold = charged_at(205.0, 190.0)
    assert held_in_gold == 190.0
    # no converted hold (it lapsed and the payment took the units afresh): the payment
    assert charged_at(205.0, None) == 205.0
    # never later than the payment
    assert charged_at(205.0, 230.0) == 205.0
    sales = [(150.0, {"a": 2}), (held_in_gold, {"a": 1}), (250.0, {"a": 1})]
    gold, members, _ = window_figures([GOLD, MEMBERS, PUBLIC], sales, 310.0)
    assert [(s.sku_id, s.sold, s.leftovers) for s in gold.skus] == [("a", 3, 0), ("b", 0, 1)]
    assert [(s.sku_id, s.carried_in, s.sold, s.leftovers) for s in members.skus] == [
        ("a", 0, 1, 1),
        ("b", 1, 0, 1),
    ]

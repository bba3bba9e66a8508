"""What the audience is told about a SKU (``domain/live/availability.py``): never "sold
out" while a later window still releases units of it."""

from __future__ import annotations

from dropline.domain.live.access import AccessWindow
from dropline.domain.live.availability import (
    Availability,
    SkuAvailability,
    availability_text,
    next_release,
    sku_availability,
)

GOLD = AccessWindow(100.0, ("gold",), {"a": 2, "b": 1}, "Gold")
MEMBERS = AccessWindow(200.0, ("*",), {"b": 1}, "Members")  # nothing more of a
PUBLIC = AccessWindow(300.0, (), None, "Everyone")
WINDOWS = (GOLD, MEMBERS, PUBLIC)


def state(now: float, sku: str, remaining: int, latched: bool = False) -> SkuAvailability:
    return sku_availability(WINDOWS, now, sku, offered=5, remaining=remaining, latched=latched)


def test_the_open_windows_units_taken_is_not_sold_out() -> None:
    # gold's 2 of a are taken (5 offered, 3 left); members add none, everyone the rest
    for latched in (False, True):  # a buyer joined the line on window_sold_out: latched
        got = state(150.0, "a", 3, latched)
        assert got == SkuAvailability(Availability.WINDOW_TAKEN, 0, 300.0)
    assert next_release(WINDOWS, 150.0, "a") == 300.0
    assert next_release(WINDOWS, 150.0, "b") == 200.0
    assert state(250.0, "a", 3).more_at == 300.0
    assert availability_text(state(150.0, "a", 3)) == (
        "window allocation taken — more at 1970-01-01 00:05 UTC"
    )


def test_sold_out_is_no_unit_left_the_lines_units_or_none_ever_released() -> None:
    assert state(150.0, "a", 0) == SkuAvailability(Availability.SOLD_OUT, 0)
    # on sale in the public window, but the units wait for the line
    assert state(310.0, "a", 3, latched=True).state is Availability.SOLD_OUT
    # the last window allocates: what it does not release is never on sale
    only_gold = (GOLD,)
    got = sku_availability(only_gold, 150.0, "a", offered=5, remaining=3, latched=False)
    assert got.state is Availability.SOLD_OUT and next_release(only_gold, 150.0, "a") is None
    assert availability_text(got) == "sold out"


def test_on_sale_holdable_now_and_before_the_first_window_opens() -> None:
    assert state(150.0, "a", 4) == SkuAvailability(Availability.ON_SALE, 4)
    assert state(310.0, "a", 3) == SkuAvailability(Availability.ON_SALE, 3)
    # before any window opens the countdown says when buying starts
    assert state(50.0, "a", 5).state is Availability.ON_SALE
    assert sku_availability((), 50.0, "a", offered=5, remaining=2, latched=False).holdable == 2
    assert availability_text(state(150.0, "a", 4)) is None

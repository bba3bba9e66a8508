from __future__ import annotations

import pytest

from dropline.domain.catalog.items import (
    Bundle,
    BundleComponent,
    bundle_availability,
    expand_items,
)
from dropline.domain.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from dropline.domain.live import drops, holds, orders
from dropline.domain.live.holds import Hold, HoldItem, HoldStatus, ItemKind, paying_deadline
from dropline.domain.money import Money, check_currency


def test_drop_lifecycle_edges() -> None:
    S = drops.DropStatus
    drops.check_transition(S.DRAFT, S.SCHEDULED)
    drops.check_transition(S.SCHEDULED, S.LIVE)
    drops.check_transition(S.LIVE, S.PAUSED)
    drops.check_transition(S.PAUSED, S.LIVE)
    drops.check_transition(S.PAUSED, S.ENDED)
    for bad in [(S.DRAFT, S.LIVE), (S.ENDED, S.LIVE), (S.LIVE, S.DRAFT), (S.ENDED, S.ENDED)]:
        with pytest.raises(InvalidTransition):
            drops.check_transition(*bad)


def test_a_live_offer_change_tells_the_engine_its_units_and_its_limit() -> None:
    offer = drops.Offer
    was = offer("sku_1", 10, sold=4, per_buyer_limit=2)
    assert drops.engine_update(was, offer("sku_1", 10, 4, 2)) is None  # nothing changed
    assert drops.engine_update(was, offer("sku_1", 13, 4, 2)) == 3
    assert drops.engine_update(was, offer("sku_1", 10, 4, 5)) == 0  # the limit alone
    assert drops.engine_update(was, offer("sku_1", 10, 4, None)) == 0  # limit removed
    assert drops.engine_update(None, offer("sku_2", 6)) == 6
    assert drops.engine_update(None, offer("sku_2", 0)) is None


def test_hold_state_machine() -> None:
    H = HoldStatus
    holds.check_transition(H.ACTIVE, H.PAYING)
    holds.check_transition(H.PAYING, H.CONVERTED)
    for bad in [(H.CONVERTED, H.RELEASED), (H.EXPIRED, H.ACTIVE), (H.ACTIVE, H.CONVERTED)]:
        with pytest.raises(InvalidTransition):
            holds.check_transition(*bad)


def test_order_transitions() -> None:
    OS = orders.OrderStatus
    orders.check_order_transition(OS.PAID, OS.HANDED_OFF)
    orders.check_order_transition(OS.HANDED_OFF, OS.SHIPPED)
    with pytest.raises(InvalidTransition):
        orders.check_order_transition(OS.PAID, OS.DELIVERED)


def _hold(created: float, expires: float, extended: bool = False) -> Hold:
    return Hold("hld_x", "drp_x", "b", (), {}, HoldStatus.ACTIVE, created, expires, extended)


def test_paying_deadline_extends_once_up_to_cap() -> None:
    h = _hold(1000.0, 1090.0)
    assert paying_deadline(h, 1080.0, 300) == 1300.0  # capped at created + 300
    assert paying_deadline(h, 1010.0, 60) == 1090.0  # never shortens
    assert paying_deadline(_hold(1000.0, 1300.0, extended=True), 1200.0, 600) == 1300.0


def test_quantities_validated() -> None:
    with pytest.raises(InvalidInput):
        holds.validate_quantities([])
    for q in (0, -1, 1001):
        with pytest.raises(InvalidInput):
            holds.validate_quantities([HoldItem(ItemKind.SKU, "s", q)])


def test_bundles_expand_and_sum_per_sku() -> None:
    b = Bundle("bdl_1", "B", "Pair", Money(4000, "USD"),
               (BundleComponent("a", 1), BundleComponent("b", 2)))  # fmt: skip
    units = expand_items(
        [HoldItem(ItemKind.BUNDLE, "bdl_1", 2), HoldItem(ItemKind.SKU, "a", 1)], {"bdl_1": b}
    )
    assert units == {"a": 3, "b": 4}
    assert bundle_availability(b, {"a": 5, "b": 5}) == 2
    with pytest.raises(NotFound):
        expand_items([HoldItem(ItemKind.BUNDLE, "nope", 1)], {})


def test_money_is_integer_and_single_currency() -> None:
    assert (Money(150, "USD") + Money(50, "USD")).amount == 200
    assert Money(6500, "USD").format() == "USD 65.00"
    assert Money(500, "JPY").format() == "JPY 500"
    with pytest.raises(InvalidInput):
        Money(1, "USD") + Money(1, "EUR")
    with pytest.raises(InvalidInput):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        check_currency("XXX")
    assert check_currency("usd") == "USD"


def test_only_a_restock_wave_reopens_an_ended_drop() -> None:
    S = drops.DropStatus
    ended = drops.Drop("drp_x", "Tee", "USD", S.ENDED, ends_at=100.0)
    drops.check_reopen(ended, None, now=200.0)
    drops.check_reopen(ended, 300.0, now=200.0)
    with pytest.raises(Conflict, match="ends_at has passed"):
        drops.check_reopen(ended, 200.0, now=200.0)
    for status in (S.DRAFT, S.SCHEDULED, S.LIVE, S.PAUSED):
        with pytest.raises(InvalidTransition):
            drops.check_reopen(drops.Drop("drp_x", "Tee", "USD", status), None, now=200.0)
    # the offers come down to what they sold; a pre-order offer keeps its cap
    offers = {"a": drops.Offer("a", 10, 4, 2, True), "p": drops.Offer("p", 50, 7)}
    assert drops.reopened_offers(offers, {"p"}) == {"a": drops.Offer("a", 4, 4, 2, True)}


def test_a_waves_end_is_for_a_reopened_drop_after_its_time() -> None:
    S = drops.DropStatus
    drops.check_wave_end(S.ENDED, 100.0, 200.0, now=90.0)
    drops.check_wave_end(S.ENDED, 100.0, None, now=90.0, planned=[None])
    drops.check_wave_end(S.ENDED, 100.0, 200.0, now=90.0, planned=[200.0, 200.0])
    drops.check_wave_end(S.LIVE, 100.0, None, now=90.0)
    refused = [
        (S.LIVE, 100.0, 200.0, 90.0, ()),  # a live drop ends by its own schedule
        (S.PAUSED, 100.0, 200.0, 90.0, ()),
        (S.ENDED, 100.0, 100.0, 90.0, ()),  # not after the wave's time
        (S.ENDED, 100.0, 150.0, 160.0, ()),  # not after now
        (S.ENDED, 100.0, 200.0, 90.0, [300.0]),  # another reopening wave ends it later
        (S.ENDED, 100.0, None, 90.0, [200.0]),
    ]
    for status, at, ends_at, now, planned in refused:
        with pytest.raises(InvalidInput) as info:
            drops.check_wave_end(status, at, ends_at, now, planned)
        assert info.value.extra == {"field": "ends_at"}

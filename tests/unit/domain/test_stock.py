from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropline.domain.errors import InsufficientStock, InvalidInput
from dropline.domain.stock.buckets import (
    Bucket,
    Movement,
    Reason,
    StockLevel,
    count_adjustment,
    give_back,
    replay,
    safety_rebalance,
    safety_target,
)


def test_receipt_then_offer_then_sale_moves_between_buckets() -> None:
    lv = StockLevel("sku_a")
    lv = lv.apply(Movement("sku_a", 10, None, Bucket.AVAILABLE, Reason.RECEIPT))
    lv = lv.apply(Movement("sku_a", 4, Bucket.AVAILABLE, Bucket.RESERVED, Reason.OFFER))
    lv = lv.apply(Movement("sku_a", 3, Bucket.RESERVED, Bucket.COMMITTED, Reason.SALE))
    assert (lv.available, lv.reserved, lv.committed, lv.on_hand) == (6, 1, 3, 10)


def test_movement_that_would_go_negative_is_refused() -> None:
    lv = StockLevel("sku_a", available=2)
    with pytest.raises(InsufficientStock) as info:
        lv.apply(Movement("sku_a", 3, Bucket.AVAILABLE, Bucket.RESERVED, Reason.OFFER))
    assert info.value.extra["have"] == 2


@pytest.mark.parametrize(
    ("qty", "src", "dst"),
    [(0, None, Bucket.AVAILABLE), (-1, None, Bucket.AVAILABLE), (1, None, None),
     (1, Bucket.SAFETY, Bucket.SAFETY)],
)  # fmt: skip
def test_invalid_movements(qty: int, src: Bucket | None, dst: Bucket | None) -> None:
    with pytest.raises(InvalidInput):
        Movement("sku_a", qty, src, dst, Reason.ADJUSTMENT)


def test_give_back_sends_each_kind_of_unit_home() -> None:
    """Allocated lot units to available; in-stock units to the offer while the drop is
    on sale, and on to available once it ended; nothing for SKUs without units."""
    committed = {"sku_stock": 3, "sku_pre": 2, "sku_none": 0}
    live = give_back(committed, {"sku_pre"}, order_id="ord_1", drop_id="drp_1", drop_ended=False)
    assert [(m.sku_id, m.quantity, m.from_bucket, m.to_bucket, m.reason, m.ref) for m in live] == [
        ("sku_pre", 2, Bucket.COMMITTED, Bucket.AVAILABLE, Reason.UNALLOCATE, "ord_1"),
        ("sku_stock", 3, Bucket.COMMITTED, Bucket.RESERVED, Reason.CANCEL, "ord_1"),
    ]
    ended = give_back(committed, {"sku_pre"}, order_id="ord_1", drop_id="drp_1", drop_ended=True)
    assert ended[:2] == live
    assert [
        (m.sku_id, m.quantity, m.from_bucket, m.to_bucket, m.reason, m.ref) for m in ended[2:]
    ] == [
        ("sku_stock", 3, Bucket.RESERVED, Bucket.AVAILABLE, Reason.UNOFFER, "drp_1"),
    ]
    # Replayed on the level the order left behind, nothing stays committed or reserved.
    level = StockLevel("sku_stock", committed=3)
    for m in ended:
        if m.sku_id == "sku_stock":
            level = level.apply(m)
    assert (level.committed, level.reserved, level.available) == (0, 0, 3)


def test_count_difference_becomes_adjustment_with_who_and_why() -> None:
    lv = StockLevel("sku_a", available=10)
    mv = count_adjustment(lv, Bucket.AVAILABLE, 7, actor="sam", note="cycle count")
    assert mv is not None
    assert (mv.quantity, mv.from_bucket, mv.to_bucket, mv.actor) == (
        3,
        Bucket.AVAILABLE,
        None,
        "sam",
    )
    assert lv.apply(mv).available == 7
    assert count_adjustment(lv, Bucket.AVAILABLE, 10, actor="sam", note="ok") is None
    with pytest.raises(InvalidInput):
        count_adjustment(lv, Bucket.AVAILABLE, 9, actor="", note="no actor")


def test_safety_target_takes_larger_of_qty_and_rounded_up_percent() -> None:
    assert safety_target(100, 2, 5) == 5
    assert safety_target(100, 8, 5) == 8
    assert safety_target(21, 0, 5) == 2  # 1.05 rounds up
    assert safety_target(3, 10, 0) == 3  # never more than exists
    with pytest.raises(InvalidInput):
        safety_target(10, 0, 101)


def test_safety_rebalance_tops_up_and_gives_back() -> None:
    lv = StockLevel("s", available=100)
    up = safety_rebalance(lv, 0, 5)
    assert up is not None and up.to_bucket is Bucket.SAFETY and up.quantity == 5
    lv = lv.apply(up)
    down = safety_rebalance(lv, 0, 0)
    assert down is not None and down.from_bucket is Bucket.SAFETY and down.quantity == 5


_bucket = st.sampled_from(list(Bucket))


@given(
    st.lists(st.tuples(st.integers(1, 50), st.none() | _bucket, st.none() | _bucket), max_size=60)
)
def test_levels_never_negative_and_equal_ledger_replay(
    ops: list[tuple[int, Bucket | None, Bucket | None]],
) -> None:
    """Property: applying any sequence (skipping refused moves) keeps every bucket ≥ 0,
    and the level equals a replay of the accepted movements."""
    lv = StockLevel("s")
    accepted = []
    for qty, src, dst in ops:
        if (src is None and dst is None) or src == dst:
            continue
        mv = Movement("s", qty, src, dst, Reason.ADJUSTMENT)
        try:
            lv = lv.apply(mv)
        except InsufficientStock:
            continue
        accepted.append(mv)
    assert all(lv.get(b) >= 0 for b in Bucket)
    assert replay("s", accepted) == lv
    assert lv.on_hand == sum(lv.get(b) for b in Bucket)

"""Bins in the domain: which movements may name a bin, how units per bin follow the
ledger, where leaving units are taken from, and where a picker is sent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dropline.domain.errors import InsufficientStock, InvalidInput
from dropline.domain.stock.bins import Bin, BinStock, allocate_picks, pick_order, split_leaving
from dropline.domain.stock.buckets import Bucket, Movement, Reason

A, C, Q = Bucket.AVAILABLE, Bucket.COMMITTED, Bucket.QUALITY_CONTROL


def test_only_units_crossing_the_wall_or_relocating_name_a_bin() -> None:
    Movement("s", 1, None, A, Reason.RECEIPT, to_bin="b1")
    Movement("s", 1, C, None, Reason.SHIPMENT, from_bin="b1")
    Movement("s", 1, None, None, Reason.BIN_MOVE, from_bin="b1", to_bin="b2")
    Movement("s", 1, None, None, Reason.BIN_MOVE, from_bin=None, to_bin="b2")  # put away
    with pytest.raises(InvalidInput):
        Movement("s", 1, A, Q, Reason.ADJUSTMENT, from_bin="b1")  # on the shelf
    with pytest.raises(InvalidInput):
        Movement("s", 1, None, A, Reason.RECEIPT, from_bin="b1")  # arrives from a bin?
    with pytest.raises(InvalidInput):
        Movement("s", 1, C, None, Reason.SHIPMENT, to_bin="b1")  # leaves into a bin?
    with pytest.raises(InvalidInput):
        Movement("s", 1, None, None, Reason.BIN_MOVE, from_bin="b1", to_bin="b1")
    with pytest.raises(InvalidInput):
        Movement("s", 1, None, None, Reason.BIN_MOVE)


def test_bin_codes_are_printable() -> None:
    assert Bin.check(" a-01/3 ", " A ", "Tees") == ("A-01/3", "A", "Tees")
    for bad in ("", "a b", "-A", "x" * 41, "é1"):
        with pytest.raises(InvalidInput):
            Bin.check(bad, "", "")


def test_bin_stock_follows_movements() -> None:
    s = BinStock("s", 0)
    s = s.apply(Movement("s", 5, None, A, Reason.RECEIPT, to_bin="b1"))
    s = s.apply(Movement("s", 2, None, A, Reason.RECEIPT))
    assert (s.on_hand, dict(s.bins), s.unplaced) == (7, {"b1": 5}, 2)
    s = s.apply(Movement("s", 2, None, None, Reason.BIN_MOVE, to_bin="b2"))
    s = s.apply(Movement("s", 5, None, None, Reason.BIN_MOVE, from_bin="b1", to_bin="b2"))
    assert (dict(s.bins), s.unplaced) == ({"b2": 7}, 0)  # an emptied bin is dropped
    s = s.apply(Movement("s", 1, A, Q, Reason.QC_FAIL))  # on the shelf: nothing moves
    assert (s.on_hand, dict(s.bins)) == (7, {"b2": 7})
    with pytest.raises(InsufficientStock):
        s.apply(Movement("s", 1, C, None, Reason.SHIPMENT))  # nothing unplaced
    with pytest.raises(InsufficientStock):
        s.apply(Movement("s", 8, C, None, Reason.SHIPMENT, from_bin="b2"))


def test_leaving_units_come_from_bins_in_pick_order_or_unplaced_first() -> None:
    s = BinStock("s", 10, {"b1": 3, "b2": 4})  # 3 unplaced
    ship = Movement("s", 6, C, None, Reason.SHIPMENT, "ord")
    assert [(m.from_bin, m.quantity) for m in split_leaving(ship, s, ["b2"], True)] == [
        ("b2", 4),
        ("b1", 2),
    ]
    off = Movement("s", 5, A, None, Reason.ADJUSTMENT)
    assert [(m.from_bin, m.quantity) for m in split_leaving(off, s, [], False)] == [
        (None, 3),
        ("b1", 2),
    ]
    named = Movement("s", 1, C, None, Reason.SHIPMENT, from_bin="b1")
    assert split_leaving(named, s, [], True) == [named]
    with pytest.raises(InsufficientStock):
        split_leaving(Movement("s", 11, A, None, Reason.ADJUSTMENT), s, [], False)


def test_picks_start_at_the_staged_bin() -> None:
    assert pick_order("b9", [("b1", "A-2"), ("b9", "Z-1"), ("b3", "A-1")]) == ["b9", "b3", "b1"]
    assert pick_order(None, [("b1", "B"), ("b3", "A")]) == ["b3", "b1"]
    assert allocate_picks(5, [("b1", 2), ("b2", 2)]) == [("b1", 2), ("b2", 2), (None, 1)]
    assert allocate_picks(1, [("b1", 2)]) == [("b1", 1)]


_move = st.one_of(
    st.tuples(st.just("in"), st.integers(1, 5), st.sampled_from([None, "b1", "b2"])),
    st.tuples(st.just("out"), st.integers(1, 5), st.sampled_from([None, "b1", "b2"])),
    st.tuples(
        st.just("rel"),
        st.integers(1, 5),
        st.sampled_from([(None, "b1"), ("b1", "b2"), ("b2", None)]),
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_move, max_size=30))
def test_units_in_bins_never_exceed_units_on_hand(moves: list[tuple[str, int, object]]) -> None:
    """Whatever is asked, a refused movement changes nothing and an accepted one keeps
    every bin and the unplaced units at zero or more."""
    s = BinStock("s", 0)
    for kind, qty, where in moves:
        if kind == "in":
            m = Movement("s", qty, None, A, Reason.RECEIPT, to_bin=where)  # type: ignore[arg-type]
        elif kind == "out":
            m = Movement("s", qty, A, None, Reason.ADJUSTMENT, from_bin=where)  # type: ignore[arg-type]
        else:
            src, dst = where  # type: ignore[misc]
            m = Movement("s", qty, None, None, Reason.BIN_MOVE, from_bin=src, to_bin=dst)
        parts = split_leaving(m, s, [], False) if s.on_hand >= m.quantity or not m.leaves else [m]
        try:
            after = s
            for p in parts:
                after = after.apply(p)
        except InsufficientStock:
            continue
        s = after
        assert s.unplaced >= 0 and all(q > 0 for q in s.bins.values())

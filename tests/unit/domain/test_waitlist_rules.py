"""Waitlist rules: line order (fifo and the drawn pre-queue), places, the draw's audit,
claim windows and demand."""

from __future__ import annotations

import pytest

from dropline.domain.errors import InvalidInput
from dropline.domain.live.waitlist import (
    Demand,
    Entry,
    EntryStatus,
    WaitlistOrder,
    check_claim_window,
    draw_order,
    in_line,
    needs_draw,
    position,
)


def entry(n: int, *, pre: bool = False, rank: int | None = None, status: str = "waiting") -> Entry:
    return Entry(
        id=f"wle_{n:02d}",
        seq=n,
        drop_id="drp_1",
        sku_id="sku_1",
        buyer_id=f"b{n}",
        status=EntryStatus(status),
        joined_at=1000.0,  # the same instant: the sequence decides
        pre_queue=pre,
        rank=rank,
    )


def test_fifo_serves_in_join_order_and_skips_who_is_not_waiting() -> None:
    line = [entry(3), entry(1), entry(2, status="offered"), entry(4, status="left")]
    assert [e.id for e in in_line(line, WaitlistOrder.FIFO)] == ["wle_01", "wle_03"]
    assert position(line, "wle_03", WaitlistOrder.FIFO) == 2
    assert position(line, "wle_02", WaitlistOrder.FIFO) is None


def test_draw_puts_the_ranked_pre_queue_first_then_later_joiners() -> None:
    line = [entry(1, pre=True, rank=2), entry(2, pre=True, rank=0), entry(3, pre=True, rank=1)]
    line.append(entry(4))
    order = [e.id for e in in_line(line, WaitlistOrder.DRAW)]
    assert order == ["wle_02", "wle_03", "wle_01", "wle_04"]
    # fifo ignores the ranks
    assert [e.id for e in in_line(line, WaitlistOrder.FIFO)] == [
        "wle_01",
        "wle_02",
        "wle_03",
        "wle_04",
    ]


def test_draw_is_reproducible_from_the_seed_and_depends_on_it() -> None:
    ids = [f"wle_{n:02d}" for n in range(20)]
    first = draw_order(ids, "seed-a")
    assert sorted(first) == ids
    assert draw_order(list(reversed(ids)), "seed-a") == first  # input order does not matter
    assert draw_order(ids, "seed-b") != first


def test_needs_draw_only_for_unranked_pre_queue_in_draw_mode() -> None:
    assert needs_draw([entry(1, pre=True)], WaitlistOrder.DRAW)
    assert not needs_draw([entry(1, pre=True)], WaitlistOrder.FIFO)
    assert not needs_draw([entry(1, pre=True, rank=0), entry(2)], WaitlistOrder.DRAW)


def test_claim_window_bounds() -> None:
    assert check_claim_window(600) == 600
    for bad in (0, 29, 24 * 3600 + 1):
        with pytest.raises(InvalidInput):
            check_claim_window(bad)


def test_unserved_demand_is_who_joined_minus_who_got_a_unit() -> None:
    assert Demand("sku_1", joined=10, offered=6, claimed=4, lost=2, waiting=4).unserved == 6


def test_restored_gate_latches_only_where_the_line_had_latched_it() -> None:
    from dropline.domain.live.waitlist import restored_gate

    assert restored_gate(0, 0, 3, 0) == ""  # nobody in line: the units are on sale
    assert restored_gate(2, 0, 0, 0) == "latched"  # nothing left
    assert restored_gate(2, 1, 0, 5) == "latched"  # someone joined a sold-out live drop
    assert restored_gate(2, 0, 1, 5) == "latched"  # the line has been offered claims
    assert restored_gate(2, 0, 0, 5) == "armed"  # a pre-queue before the sell-out

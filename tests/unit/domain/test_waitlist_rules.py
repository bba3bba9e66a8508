"""Waitlist rules: line order (fifo and the drawn pre-queue), places, the draw's audit,
claim windows and demand; with access windows, which entries may be served now (the
others are passed over in their place, or skipped when no window admits them)."""

from __future__ import annotations

import pytest

from dropline.domain.errors import InvalidInput
from dropline.domain.live.access import AccessWindow
from dropline.domain.live.waitlist import (
    ALWAYS,
    DemandEntry,
    Entry,
    EntryStatus,
    KeptUnits,
    WaitlistOrder,
    check_claim_window,
    draw_order,
    in_line,
    line_demand,
    needs_draw,
    position,
    serve_from,
    serving,
    settle_waves,
)

T0, T1 = 1000.0, 2000.0
#: gold from T0 with an allocation, the public from T1
WINDOWS = (AccessWindow(T0, ("gold",), {"sku_1": 1}), AccessWindow(T1))
GOLD = frozenset({"gold"})


def entry(
    n: int,
    *,
    pre: bool = False,
    rank: int | None = None,
    status: str = "waiting",
    tiers: frozenset[str] = frozenset(),
) -> Entry:
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
        tiers=tiers,
    )


def ids(entries: tuple[Entry, ...]) -> list[str]:
    return [e.id for e in entries]


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


def test_demand_counts_buyers_once_and_entries_and_claims_each() -> None:
    """Ann left, came back, lost a claim and waits; Bo paid a claim, came back for one
    more and paid it too; Cy left for good; Dee was skipped after a failed card."""
    W, S = EntryStatus, "sku_1"
    lines = [
        DemandEntry("ann", W.LEFT),
        DemandEntry("bo", W.CLAIMED, offered=True, charge="succeeded"),
        DemandEntry("ann", W.LOST, offered=True),
        DemandEntry("cy", W.LEFT),
        DemandEntry("bo", W.CLAIMED, offered=True),
        DemandEntry("dee", W.LOST, offered=True, charge="failed"),
        DemandEntry("dee", W.SKIPPED),
        DemandEntry("ann", W.WAITING),
    ]
    d = line_demand(S, lines)
    # buyers: four joined, by where each one's latest entry stands; Bo alone was served
    assert (d.joined, d.waiting, d.left, d.skipped, d.unserved) == (4, 1, 1, 1, 3)
    # entries and claims: each one
    assert (d.entries, d.offered, d.claimed, d.lost) == (8, 4, 2, 2)
    assert (d.autocharge_succeeded, d.autocharge_failed) == (1, 1)
    assert line_demand(S, []).joined == line_demand(S, []).unserved == 0


def test_restored_gate_latches_only_where_the_line_had_latched_it() -> None:
    from dropline.domain.live.waitlist import restored_gate

    assert restored_gate(0, 0, 3, 0) == ""  # nobody in line: the units are on sale
    assert restored_gate(2, 0, 0, 0) == "latched"  # nothing left
    assert restored_gate(2, 1, 0, 5) == "latched"  # someone joined a sold-out live drop
    assert restored_gate(2, 0, 1, 5) == "latched"  # the line has been offered claims
    assert restored_gate(2, 0, 0, 5) == "armed"  # a pre-queue before the sell-out


def test_an_entry_is_served_from_its_first_admitting_window() -> None:
    assert serve_from(WINDOWS, GOLD) == T0
    assert serve_from(WINDOWS, frozenset()) == T1
    assert serve_from(WINDOWS, frozenset({"silver"})) == T1  # the public window admits all
    assert serve_from((), frozenset()) == ALWAYS  # no windows: at once
    assert serve_from(WINDOWS[:1], frozenset()) is None  # no window admits the public


@pytest.mark.parametrize("order", list(WaitlistOrder))
def test_an_entry_whose_window_has_not_opened_is_passed_over_in_its_place(
    order: WaitlistOrder,
) -> None:
    """The public pre-queue buyer joined first (drawn first too); the gold one after.
    In the gold window only gold is served; once the public window opens the public
    buyer is first again: passed over, never moved back."""
    rank = {"draw": (0, 1), "fifo": (None, None)}[order.value]
    line = [
        entry(1, pre=True, rank=rank[0]),
        entry(2, pre=True, rank=rank[1], tiers=GOLD),
        entry(3, tiers=GOLD),
    ]
    before = serving(line, order, WINDOWS, T0 - 1)
    assert ids(before.ready) == [] and ids(before.later) == ["wle_01", "wle_02", "wle_03"]
    gold = serving(line, order, WINDOWS, T0)
    assert ids(gold.ready) == ["wle_02", "wle_03"] and ids(gold.later) == ["wle_01"]
    assert gold.shut == ()
    everyone = serving(line, order, WINDOWS, T1)
    assert ids(everyone.ready) == ["wle_01", "wle_02", "wle_03"] and everyone.later == ()
    # no windows: the line as it stands
    assert ids(serving(line, order, (), T0).ready) == ["wle_01", "wle_02", "wle_03"]


def test_the_draw_order_decides_among_those_whose_window_is_open() -> None:
    line = [
        entry(1, pre=True, rank=2, tiers=GOLD),
        entry(2, pre=True, rank=0),
        entry(3, pre=True, rank=1, tiers=GOLD),
    ]
    assert ids(serving(line, WaitlistOrder.DRAW, WINDOWS, T0).ready) == ["wle_03", "wle_01"]
    assert ids(serving(line, WaitlistOrder.FIFO, WINDOWS, T0).ready) == ["wle_01", "wle_03"]
    assert ids(serving(line, WaitlistOrder.DRAW, WINDOWS, T1).ready) == [
        "wle_02",
        "wle_03",
        "wle_01",
    ]


def test_an_entry_no_window_admits_any_more_is_shut_out() -> None:
    """The windows were edited after the join: only gold is admitted now. The public
    buyer's entry is neither ready nor waiting for a window (it is skipped), and it is
    not counted in anyone's place."""
    gold_only = WINDOWS[:1]
    line = [entry(1), entry(2, tiers=GOLD), entry(3, status="offered")]
    turn = serving(line, WaitlistOrder.FIFO, gold_only, T1)
    assert ids(turn.shut) == ["wle_01"] and ids(turn.ready) == ["wle_02"]
    assert turn.later == ()
    assert position(line, "wle_01", WaitlistOrder.FIFO, gold_only, T1) is None
    assert position(line, "wle_02", WaitlistOrder.FIFO, gold_only, T1) == 1


def test_a_place_counts_who_is_served_before_the_entry() -> None:
    """Public p1, gold g2, public p3, gold g4, in join order. In the gold window g2 and
    g4 are served first (1 and 2); p1 and p3 are 1 and 3 once their window opens
    (g2 is ahead of p3, and still waiting then if no unit came back for it)."""
    line = [entry(1), entry(2, tiers=GOLD), entry(3), entry(4, tiers=GOLD)]
    fifo = WaitlistOrder.FIFO
    at_t0 = {e.id: position(line, e.id, fifo, WINDOWS, T0) for e in line}
    assert at_t0 == {"wle_01": 1, "wle_02": 1, "wle_03": 3, "wle_04": 2}
    at_t1 = {e.id: position(line, e.id, fifo, WINDOWS, T1) for e in line}
    assert at_t1 == {"wle_01": 1, "wle_02": 2, "wle_03": 3, "wle_04": 4}
    # without windows: the plain place in line
    assert [position(line, e.id, fifo) for e in line] == [1, 2, 3, 4]


def test_claims_take_the_oldest_waves_kept_units_and_an_open_gate_puts_the_rest_on_sale() -> None:
    kept = [KeptUnits("w1", 2), KeptUnits("w2", 3)]
    # three claims while buyers still wait for their window: w1's 2, then 1 of w2's
    assert settle_waves(kept, 3, gate_open=False) == {"w1": (2, 0), "w2": (1, 0)}
    # one claim, then nobody is waiting: the gate opens on the rest
    assert settle_waves(kept, 1, gate_open=True) == {"w1": (1, 1), "w2": (0, 3)}
    # nothing offered and the gate still latched: nothing moves, nothing is on sale
    assert settle_waves(kept, 0, gate_open=False) == {}
    # claims beyond what the waves keep took units that came back some other way
    assert settle_waves(kept, 9, gate_open=True) == {"w1": (2, 0), "w2": (3, 0)}

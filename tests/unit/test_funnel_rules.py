"""The funnel's, unserved demand's and cue lift's pure definitions
(``domain/insight/funnel.py``), and corrected demand taking unserved demand."""

from __future__ import annotations

import pytest

from dropline.domain.errors import InvalidInput
from dropline.domain.insight.funnel import (
    Joined,
    Refused,
    Sale,
    Step,
    ViewCount,
    check_views,
    cue_lift,
    funnel,
    unserved,
)
from dropline.domain.insight.lessons import VariantRow, corrected_demand

CHANNELS = ("live", "clip")


def test_a_view_batch_is_summed_per_sku_and_channel() -> None:
    got = check_views(
        [ViewCount("", "live", 3), ViewCount("a", "", 2), ViewCount("", "live", 4)],
        ["a"],
        CHANNELS,
    )
    assert got == {("", "live"): 7, ("a", ""): 2}


@pytest.mark.parametrize(
    "batch",
    [
        [],
        [ViewCount("", "", 0)],
        [ViewCount("", "", 1_000_001)],
        [ViewCount("", "tiktok", 1)],
        [ViewCount("b", "", 1)],
        [ViewCount("", "", 1)] * 201,
    ],
)
def test_a_bad_view_batch_is_refused(batch: list[ViewCount]) -> None:
    with pytest.raises(InvalidInput):
        check_views(batch, ["a"], CHANNELS)


def test_the_funnel_counts_distinct_buyers_per_stage() -> None:
    views = {("", "live"): 10, ("a", "live"): 4, ("b", ""): 2}
    holds = [
        Step("ann", frozenset({"a"}), "live"),
        Step("ann", frozenset({"a"}), "live"),  # the same buyer twice: one held
        Step("bob", frozenset({"a", "b"}), ""),  # a bundle: both SKUs
    ]
    paid = [Step("ann", frozenset({"a"}), "live")]
    got = funnel(views, holds, paid, ["a", "b"])
    assert (got["views"], got["held"], got["paid"]) == (10, 2, 1)
    assert (got["hold_rate_bp"], got["pay_rate_bp"], got["view_to_paid_bp"]) == (2000, 5000, 1000)
    a, b = got["by_sku"]  # type: ignore[misc]
    assert (a["views"], a["held"], a["paid"], a["hold_rate_bp"]) == (4, 2, 1, 5000)
    assert (b["views"], b["held"], b["paid"], b["pay_rate_bp"]) == (2, 1, 0, 0)
    chans = {c["channel"]: (c["views"], c["held"], c["paid"]) for c in got["by_channel"]}  # type: ignore[attr-defined]
    assert chans == {"live": (10, 1, 1), "(none)": (0, 1, 0)}


def test_no_views_no_rate() -> None:
    got = funnel({}, [], [], ["a"])
    assert got["hold_rate_bp"] is None and got["pay_rate_bp"] is None


KEYS = ("refused_taps", "refused_buyers", "unserved_units", "waitlist_joins")


def rows(got: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(u["sku_id"], *(u[k] for k in KEYS), u["unserved_demand"]) for u in got]


def test_unserved_demand_is_refused_units_plus_waitlist_joins_of_other_buyers() -> None:
    refused = [Refused("a", "cat", 3, 2), Refused("a", "dan", 1, 1)]
    joined = [Joined("a", b) for b in ("eve", "fay", "gus", "hal")] + [Joined("z", "ivy")]
    assert rows(unserved(refused, joined, ["a", "b"])) == [
        ("a", 4, 2, 3, 4, 7),
        ("b", 0, 0, 0, 0, 0),
        ("z", 0, 0, 0, 1, 1),
    ]


def test_each_buyers_unmet_demand_counts_once_per_sku() -> None:
    """cat was refused 2 as sold out, then joined the line: 2, not 2 + 1. dan was
    refused 1, joined and paid his claim: served (his unit is in sold), 0. eve only
    joined: 1. fay asked 3, got 1 through the line: 2. On b, cat's join and her
    refusal on a do not meet."""
    refused = [
        Refused("a", "cat", 2, 2),
        Refused("a", "dan", 1, 1),
        Refused("a", "fay", 1, 3),
    ]
    joined = [
        Joined("a", "cat"),
        Joined("a", "dan", claimed=1),
        Joined("a", "eve"),
        Joined("a", "fay", claimed=1),
        Joined("b", "cat"),
    ]
    assert rows(unserved(refused, joined, ["a", "b"])) == [
        ("a", 4, 3, 6, 2, 2 + 0 + 1 + 2),
        ("b", 0, 0, 0, 1, 1),
    ]
    # at most unserved units + waitlist joins: the old sum counted cat, dan and fay twice
    [a, _] = unserved(refused, joined, ["a", "b"])
    assert a["unserved_demand"] < a["unserved_units"] + a["waitlist_joins"]  # type: ignore[operator]


def test_units_bought_by_any_path_are_not_unserved() -> None:
    """cat was refused 2 and later bought 1 directly (a unit came back on sale): 1 left
    unmet. dan was refused 1 and bought 1 directly: 0. eve joined the line, left it and
    bought 1 directly: 0, although she got nothing through the line (still a waitlist
    join). fay paid a claim (an order of hers too): counted once, 3 − 1 = 2. A purchase
    of another SKU meets nothing here."""
    refused = [Refused("a", "cat", 2, 2), Refused("a", "dan", 1, 1), Refused("a", "fay", 1, 3)]
    joined = [Joined("a", "eve"), Joined("a", "fay", claimed=1)]
    bought = {("a", "cat"): 1, ("a", "dan"): 1, ("a", "eve"): 1, ("a", "fay"): 1, ("b", "fay"): 5}
    assert rows(unserved(refused, joined, ["a"], bought)) == [("a", 4, 3, 6, 1, 1 + 0 + 0 + 2)]
    # without the purchases, cat, dan and eve counted as unserved
    assert rows(unserved(refused, joined, ["a"])) == [("a", 4, 3, 6, 1, 2 + 1 + 1 + 2)]


def test_corrected_demand_takes_the_larger_estimate() -> None:
    # sold out 2 units at 120 s of 300: the rate says 5; 4 unserved say 6
    assert corrected_demand(VariantRow("d", "a", "A", 2, 2, 120, "S", 300, 4)) == 6
    assert corrected_demand(VariantRow("d", "a", "A", 2, 2, 120, "S", 300, 1)) == 5
    # never sold out: units sold plus what was refused (a refusal needs a sell-out,
    # but a waitlist join may come after stock came back)
    assert corrected_demand(VariantRow("d", "a", "A", 5, 3, None, "S", 300, 2)) == 5


def test_cue_lift_compares_clipped_windows() -> None:
    sales = [Sale(60, {"a": 1}), Sale(120, {"a": 1}), Sale(200, {"b": 2})]
    got = cue_lift(50, frozenset({"a"}), sales, 60, 0, 300)
    assert got == {
        "units_before": 0,
        "units_after": 1,
        "before_s": 50,
        "after_s": 60,
        "before_per_min": 0.0,
        "after_per_min": 1.0,
        "lift_per_min": 1.0,
    }
    late = cue_lift(250, None, sales, 60, 0, 300)
    assert (late["units_before"], late["after_s"], late["after_per_min"], late["lift_per_min"]) == (
        2,
        50,
        0.0,
        -2.0,
    )
    at_start = cue_lift(0, None, sales, 60, 0, 300)
    assert at_start["before_per_min"] is None and at_start["lift_per_min"] is None

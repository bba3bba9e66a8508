"""First-run scenarios: the newsvendor solution, the three-point estimate, the MOQ
decision, the size curve, and the bad input they refuse."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dropline.domain.errors import InvalidInput
from dropline.domain.planning.first_run import (
    MoqDecision,
    UnitEconomics,
    critical_ratio,
    demand_from,
    first_run_quantity,
    outcome,
    solve,
    split_by_curve,
    three_point,
)

# Cachon & Terwiesch, *Matching Supply with Demand*, ch. "Betting on Uncertain Demand:
# The Newsvendor Model": O'Neill's Hammer 3/2 wetsuit sells for $180, costs $110 and
# is cleared for $90; demand is normal with mean 3,192 and sd 1,181.
ONEILL = UnitEconomics(price=18_000, cost=11_000, salvage=9_000, currency="USD")
ONEILL_DEMAND = demand_from(mean=3192, sd=1181)


def test_oneill_wetsuit_critical_ratio_and_quantity() -> None:
    """The book: Cu = 70, Co = 20, critical ratio 70/90 = 0.7778, z = 0.77 from the
    table and Q = 3,192 + 0.77 × 1,181 = 4,101. Without the table's rounding
    (z = 0.7647) the smallest quantity reaching the ratio is 4,096."""
    ratio = critical_ratio(ONEILL)
    assert ratio == Fraction(7, 9)
    q = first_run_quantity(ratio, ONEILL_DEMAND)
    assert q == 4096 and abs(q - 4101) <= 6
    from statistics import NormalDist

    dist = NormalDist(3192, 1181)
    assert dist.cdf(q) >= 7 / 9 > dist.cdf(q - 1)  # the smallest such quantity


def test_oneill_wetsuit_expected_values_at_3500() -> None:
    """The book orders 3,500: z = 0.26, L(z) = 0.2824, expected lost sales 333.5, sales
    2,858.5, leftover 641.5 and profit 70 × 2,858.5 − 20 × 641.5 ≈ $187,265 (its
    z is rounded to two decimals; exact z = 0.2608 gives 2,858.9 and $187,302.51)."""
    o = outcome(3500, ONEILL, ONEILL_DEMAND)
    assert abs(o.expected_sales - 2858.5) < 1 and abs(o.expected_leftover - 641.5) < 1
    assert abs(o.expected_profit - 18_726_500) < 5_000  # within the table's rounding
    assert o.expected_profit == 18_730_251
    assert abs(o.stockout_probability - (1 - 0.6026)) < 0.001  # Φ(0.26) = 0.6026
    assert o.cash_tied_up == 3500 * 11_000


def test_teddy_bower_parkas_with_no_salvage_value() -> None:
    """Cachon & Terwiesch, end-of-chapter problem "Teddy Bower" (parkas cost $10, sell
    for $22, no salvage; demand normal 2,100, sd 1,200): critical ratio 12/22 = 0.5455,
    z ≈ 0.11 to 0.12, Q ≈ 2,100 + 0.114 × 1,200 ≈ 2,237."""
    econ = UnitEconomics(2200, 1000, 0, "USD")
    run = solve(econ, demand_from(mean=2100, sd=1200))
    assert run.critical_ratio == Fraction(6, 11)
    assert run.first_run_quantity == 2238 and run.decision is MoqDecision.ORDER
    assert run.order_quantity == 2238


def test_three_point_estimate_is_the_pert_formula() -> None:
    """Heizer & Render's PERT example, activity F (optimistic 1, most likely 2,
    pessimistic 9): expected (1 + 4·2 + 9)/6 = 3, sd (9 − 1)/6 = 1.33."""
    d = three_point(best=9, expected=2, worst=1)
    assert d.mean == 3 and abs(d.sd - 8 / 6) < 1e-12 and d.source == "three_point"
    assert d.levels() == {"worst": 1, "expected": 2, "best": 9}
    normal = demand_from(mean=100, sd=10)
    assert normal.levels() == {"worst": 70, "expected": 100, "best": 130}


def test_scenarios_cover_best_expected_worst_and_the_optimum() -> None:
    run = solve(ONEILL, three_point(best=6000, expected=3000, worst=1200))
    assert set(run.scenarios) == {"worst", "expected", "best", "first_run"}
    assert run.scenarios["worst"].quantity == 1200 and run.scenarios["best"].quantity == 6000
    profits = {k: o.expected_profit for k, o in run.scenarios.items()}
    assert profits["first_run"] == max(profits.values())  # the optimum beats the others
    assert run.scenarios["best"].stockout_probability < run.scenarios["worst"].stockout_probability


def test_moq_above_the_optimum_orders_the_moq_when_it_still_pays() -> None:
    run = solve(ONEILL, ONEILL_DEMAND, moq=5000)
    assert run.decision is MoqDecision.ORDER_MOQ and run.order_quantity == 5000
    assert run.scenarios["moq"].expected_profit > 0
    assert run.phased.first_batch == 5000


def test_moq_that_loses_money_says_pre_sell_first() -> None:
    thin = UnitEconomics(price=1000, cost=900, salvage=0, currency="USD")
    run = solve(thin, demand_from(mean=100, sd=30), moq=2000)
    assert run.decision is MoqDecision.PRE_SELL_FIRST and run.order_quantity == 0
    assert run.scenarios["moq"].expected_profit < 0
    no_margin = UnitEconomics(price=1000, cost=1000, salvage=0, currency="USD")
    assert solve(no_margin, demand_from(mean=100, sd=30)).decision is MoqDecision.PRE_SELL_FIRST


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: UnitEconomics(1000, 1200, 0, "USD"), "above the price"),
        (lambda: UnitEconomics(1000, 500, 600, "USD"), "above the unit cost"),
        (lambda: UnitEconomics(1000, 500, 500, "USD"), "equals the unit cost"),
        (lambda: UnitEconomics(-1, 0, 0, "USD"), "price must be"),
        (lambda: demand_from(mean=100, sd=0), "no fallback"),
        (lambda: demand_from(mean=100, sd=-1), "negative"),
        (lambda: demand_from(best=5, expected=5, worst=5), "zero"),
        (lambda: demand_from(best=5, expected=9, worst=1), "worst <= expected <= best"),
        (lambda: demand_from(mean=100), "both"),
        (lambda: demand_from(), "give demand"),
        (lambda: split_by_curve(10, {"S": 0}), "above zero"),
    ],
)
def test_bad_input_is_refused_with_a_clear_reason(make: object, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        make()  # type: ignore[operator]
    assert words in err.value.detail


def test_sd_zero_falls_back_to_a_three_point_estimate() -> None:
    d = demand_from(mean=100, sd=0, best=160, expected=100, worst=40)
    assert d.source == "three_point" and d.sd == 20


def test_size_curve_splits_exactly() -> None:
    assert split_by_curve(100, {"S": 20, "M": 35, "L": 30, "XL": 15}) == {
        "S": 20,
        "M": 35,
        "L": 30,
        "XL": 15,
    }
    parts = split_by_curve(10, {"S": 1, "M": 1, "L": 1})
    assert sum(parts.values()) == 10 and sorted(parts.values()) == [3, 3, 4]


amounts = st.integers(1, 100_000)


@settings(max_examples=200, deadline=None)
@given(
    cost=amounts,
    margin=st.integers(0, 100_000),
    raise_by=st.integers(1, 100_000),
    salvage_pct=st.integers(0, 99),
    mean=st.integers(0, 50_000),
    sd=st.integers(1, 20_000),
)
def test_raising_the_price_never_lowers_the_first_run_quantity(
    cost: int, margin: int, raise_by: int, salvage_pct: int, mean: int, sd: int
) -> None:
    salvage = cost * salvage_pct // 100
    demand = demand_from(mean=mean, sd=sd)
    low = UnitEconomics(cost + margin, cost, salvage, "USD")
    high = UnitEconomics(cost + margin + raise_by, cost, salvage, "USD")
    q_low = first_run_quantity(critical_ratio(low), demand)
    q_high = first_run_quantity(critical_ratio(high), demand)
    assert q_high >= q_low


@settings(max_examples=100, deadline=None)
@given(
    cost=st.integers(100, 10_000),
    margin=st.integers(1, 10_000),
    salvage_pct=st.integers(0, 90),
    mean=st.integers(10, 5_000),
    sd_pct=st.integers(1, 33),
)
def test_the_first_run_quantity_maximises_expected_profit(
    cost: int, margin: int, salvage_pct: int, mean: int, sd_pct: int
) -> None:
    """The rule rounds the continuous optimum up, as the book does: expected profit is
    concave in the quantity, so no whole quantity earns more than the first-run quantity
    or the one just below it (to within rounding to the minor unit), and nothing above
    the first-run quantity earns more than it. (Demand at least three standard
    deviations above zero: where a normal model of demand makes sense.)"""
    econ = UnitEconomics(cost + margin, cost, cost * salvage_pct // 100, "USD")
    demand = demand_from(mean=mean, sd=max(1, mean * sd_pct / 100))
    q = first_run_quantity(critical_ratio(econ), demand)

    def profit(n: int) -> int:
        return outcome(n, econ, demand).expected_profit

    top = max(profit(q), profit(q - 1) if q else profit(q))
    for other in range(max(0, q - 6), q + 7):
        assert profit(other) <= top + 1
    for above in (q + 1, q + 5):
        assert profit(above) <= profit(q) + 1

"""First-run scenarios: how many units to make before the stream (the newsvendor model).

Pure domain: standard library only (``statistics.NormalDist`` for the normal
distribution). A creator orders one production run before knowing demand; a unit short
loses the margin ``price − cost`` (the underage cost), a unit left over loses
``cost − salvage`` (the overage cost). The quantity that maximises expected profit is
the smallest ``q`` whose demand probability reaches the critical ratio

    P(D ≤ q) ≥ (price − cost) / (price − salvage)

(Cachon & Terwiesch, *Matching Supply with Demand*, ch. "Betting on Uncertain Demand:
The Newsvendor Model"). Demand is normal, given as a mean and standard deviation or
read from a three-point estimate (PERT: mean = (best + 4·expected + worst) / 6,
sd = (best − worst) / 6). For a quantity ``q`` with ``z = (q − μ) / σ`` and the
standard normal loss ``L(z) = φ(z) − z·(1 − Φ(z))``:

    expected lost sales = σ·L(z)        expected sales = μ − σ·L(z)
    expected leftover   = q − sales     stock-out probability = 1 − Φ(z)
    expected profit     = price·sales + salvage·leftover − cost·q
    cash tied up        = cost·q        (paid to the factory before the stream)

Money is integer minor units; expected values are rounded only when reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from statistics import NormalDist

from dropline.domain.errors import InvalidInput
from dropline.domain.money import check_currency

MAX_AMOUNT = 10_000_000_000
MAX_UNITS = 10_000_000
_STD = NormalDist()


class MoqDecision(StrEnum):
    """What to do about the first run.

    - ``order``: make the first-run quantity (the MOQ, if any, is below it).
    - ``order_moq``: the MOQ is above the optimum but making the MOQ still has a
      positive expected profit.
    - ``pre_sell_first``: the MOQ (or nothing at all) does not pay on expected demand:
      take pre-orders to prove demand before committing cash."""

    ORDER = "order"
    ORDER_MOQ = "order_moq"
    PRE_SELL_FIRST = "pre_sell_first"


@dataclass(frozen=True)
class UnitEconomics:
    """Price, unit cost and salvage value of one unit, in minor units of ``currency``."""

    price: int
    cost: int
    salvage: int
    currency: str

    def __post_init__(self) -> None:
        check_currency(self.currency)
        for name in ("price", "cost", "salvage"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_AMOUNT:
                raise InvalidInput(f"{name} must be between 0 and {MAX_AMOUNT}", field=name)
        if self.cost > self.price:
            raise InvalidInput(
                f"the unit cost ({self.cost}) is above the price ({self.price}): every "
                "unit sold would lose money",
                field="unit_cost",
            )
        if self.salvage > self.cost:
            raise InvalidInput(
                f"the salvage value ({self.salvage}) is above the unit cost ({self.cost}): "
                "a leftover unit cannot be worth more than it cost",
                field="salvage",
            )
        if self.salvage == self.cost:
            raise InvalidInput(
                "the salvage value equals the unit cost: a leftover unit costs nothing, so "
                "there is no finite best quantity; give a salvage value below the cost",
                field="salvage",
            )

    @property
    def underage(self) -> int:
        """What a unit short costs: the margin not earned."""
        return self.price - self.cost

    @property
    def overage(self) -> int:
        """What a unit left over costs: its cost less what it is sold off for."""
        return self.cost - self.salvage


@dataclass(frozen=True)
class Demand:
    """Normal demand for the run: mean and standard deviation (units), and where they
    came from (``normal`` or ``three_point`` with its three values)."""

    mean: float
    sd: float
    source: str = "normal"
    best: float | None = None
    expected: float | None = None
    worst: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean) and 0 <= self.mean <= MAX_UNITS):
            raise InvalidInput(f"demand mean must be between 0 and {MAX_UNITS}", field="mean")
        if not (math.isfinite(self.sd) and 0 < self.sd <= MAX_UNITS):
            raise InvalidInput("demand sd must be above 0", field="sd")

    def levels(self) -> dict[str, int]:
        """The worst, expected and best demand as whole units: the three-point values
        when given, else the mean and three standard deviations either side (the spread
        a three-point estimate implies)."""
        if self.best is not None and self.expected is not None and self.worst is not None:
            return {
                "worst": round(self.worst),
                "expected": round(self.expected),
                "best": round(self.best),
            }
        return {
            "worst": max(0, round(self.mean - 3 * self.sd)),
            "expected": round(self.mean),
            "best": round(self.mean + 3 * self.sd),
        }


def three_point(best: float, expected: float, worst: float) -> Demand:
    """Demand from a three-point estimate: mean = (best + 4·expected + worst) / 6,
    sd = (best − worst) / 6. Needs worst ≤ expected ≤ best and best above worst."""
    for name, value in (("best", best), ("expected", expected), ("worst", worst)):
        if not (math.isfinite(value) and 0 <= value <= MAX_UNITS):
            raise InvalidInput(f"demand {name} must be between 0 and {MAX_UNITS}", field=name)
    if not worst <= expected <= best:
        raise InvalidInput("a three-point estimate needs worst <= expected <= best", field="demand")
    if best == worst:
        raise InvalidInput(
            "best and worst demand are equal, so the standard deviation is zero: give a "
            "range (best above worst)",
            field="demand.best",
        )
    return Demand(
        (best + 4 * expected + worst) / 6, (best - worst) / 6, "three_point", best, expected, worst
    )


def demand_from(
    *,
    mean: float | None = None,
    sd: float | None = None,
    best: float | None = None,
    expected: float | None = None,
    worst: float | None = None,
) -> Demand:
    """Demand as given: ``mean``/``sd``, or a three-point estimate. A standard deviation
    of zero falls back to the three-point estimate when one is also given (a normal
    model needs some spread); with no fallback it is refused."""
    has_normal = mean is not None or sd is not None
    has_three = best is not None or expected is not None or worst is not None
    if has_three and (best is None or expected is None or worst is None):
        raise InvalidInput("a three-point estimate needs best, expected and worst", field="demand")
    if has_normal:
        if mean is None or sd is None:
            raise InvalidInput("give both demand mean and sd", field="demand")
        if sd < 0:
            raise InvalidInput("demand sd cannot be negative", field="demand.sd")
        if sd == 0:
            if best is not None and expected is not None and worst is not None:
                return three_point(best, expected, worst)
            raise InvalidInput(
                "demand sd is zero and there is no fallback: give a standard deviation "
                "above zero, or a three-point estimate (best, expected, worst)",
                field="demand.sd",
            )
        return Demand(float(mean), float(sd))
    if best is not None and expected is not None and worst is not None:
        return three_point(best, expected, worst)
    raise InvalidInput("give demand as {mean, sd} or as {best, expected, worst}", field="demand")


def critical_ratio(econ: UnitEconomics) -> Fraction:
    """(price − cost) / (price − salvage), exactly: the probability of not stocking out
    at the best quantity."""
    return Fraction(econ.underage, econ.underage + econ.overage)


def first_run_quantity(ratio: Fraction, demand: Demand) -> int:
    """The smallest whole ``q >= 0`` with ``P(D <= q) >= ratio``."""
    if ratio <= 0:
        return 0
    dist = NormalDist(demand.mean, demand.sd)
    target = float(ratio)
    q = max(0, math.ceil(dist.inv_cdf(target)))
    while q > 0 and dist.cdf(q - 1) >= target:
        q -= 1
    while dist.cdf(q) < target:
        q += 1
    return min(q, MAX_UNITS)


@dataclass(frozen=True)
class Outcome:
    """What making ``quantity`` units is expected to give, under the demand model."""

    quantity: int
    expected_sales: float
    expected_leftover: float
    stockout_probability: float
    expected_profit: int  # minor units
    cash_tied_up: int  # minor units


def outcome(quantity: int, econ: UnitEconomics, demand: Demand) -> Outcome:
    """The expected results of making ``quantity`` units (formulas in the module doc)."""
    if not 0 <= quantity <= MAX_UNITS:
        raise InvalidInput(f"quantity must be between 0 and {MAX_UNITS}", field="quantity")
    z = (quantity - demand.mean) / demand.sd
    loss = _STD.pdf(z) - z * (1 - _STD.cdf(z))
    sales = min(float(quantity), max(0.0, demand.mean - demand.sd * loss))
    leftover = quantity - sales
    profit = econ.price * sales + econ.salvage * leftover - econ.cost * quantity
    return Outcome(
        quantity=quantity,
        expected_sales=sales,
        expected_leftover=leftover,
        stockout_probability=1 - _STD.cdf(z),
        expected_profit=round(profit),
        cash_tied_up=econ.cost * quantity,
    )


@dataclass(frozen=True)
class PhasedPlan:
    """A first batch, and a reorder proposed when sell-through reaches
    ``reorder_threshold_pct`` within ``reorder_window_days`` (the run's reorder rule:
    it feeds the existing reorder proposals). ``upside_units`` is what best-case demand
    would still want after the first batch."""

    first_batch: int
    reorder_threshold_pct: int
    reorder_window_days: int
    upside_units: int


@dataclass(frozen=True)
class FirstRun:
    """The newsvendor solution and its scenarios (``worst``, ``expected``, ``best``
    demand levels made, ``first_run`` and, when different, ``moq`` and ``chosen``)."""

    economics: UnitEconomics
    demand: Demand
    moq: int
    critical_ratio: Fraction
    first_run_quantity: int
    order_quantity: int
    decision: MoqDecision
    reason: str
    scenarios: dict[str, Outcome]
    phased: PhasedPlan


def solve(
    econ: UnitEconomics,
    demand: Demand,
    *,
    moq: int = 0,
    chosen: int | None = None,
    reorder_threshold_pct: int = 70,
    reorder_window_days: int = 14,
) -> FirstRun:
    """The first-run quantity, the MOQ decision and the scenarios to compare.

    With an MOQ above the optimum the run is ``order_moq`` when making the MOQ still has
    a positive expected profit, else ``pre_sell_first``; an optimum of zero units is
    ``pre_sell_first`` too."""
    if not 0 <= moq <= MAX_UNITS:
        raise InvalidInput(f"moq must be between 0 and {MAX_UNITS}", field="moq")
    if not 1 <= reorder_threshold_pct <= 100:
        raise InvalidInput("reorder threshold must be between 1 and 100 %", field="reorder")
    if not 1 <= reorder_window_days <= 365:
        raise InvalidInput("reorder window must be between 1 and 365 days", field="reorder")
    ratio = critical_ratio(econ)
    q = first_run_quantity(ratio, demand)
    scenarios = {name: outcome(level, econ, demand) for name, level in demand.levels().items()}
    scenarios["first_run"] = outcome(q, econ, demand)
    if moq > q:
        at_moq = outcome(moq, econ, demand)
        scenarios["moq"] = at_moq
        if at_moq.expected_profit > 0:
            decision, order = MoqDecision.ORDER_MOQ, moq
            reason = (
                f"the MOQ ({moq}) is above the best quantity ({q}) but still earns "
                f"{at_moq.expected_profit} expected"
            )
        else:
            decision, order = MoqDecision.PRE_SELL_FIRST, 0
            reason = (
                f"the MOQ ({moq}) is above the best quantity ({q}) and loses "
                f"{-at_moq.expected_profit} expected: pre-sell to prove demand first"
            )
    elif q == 0:
        decision, order = MoqDecision.PRE_SELL_FIRST, 0
        reason = "no quantity pays on this demand: pre-sell to prove demand first"
    else:
        decision, order = MoqDecision.ORDER, q
        reason = f"make {q}: the critical ratio is {float(ratio):.4f}"
    if chosen is not None and chosen not in (q, moq):
        scenarios["chosen"] = outcome(chosen, econ, demand)
    best = demand.levels()["best"]
    phased = PhasedPlan(order, reorder_threshold_pct, reorder_window_days, max(0, best - order))
    return FirstRun(econ, demand, moq, ratio, q, order, decision, reason, scenarios, phased)


def split_by_curve(total: int, curve: Mapping[str, float]) -> dict[str, int]:
    """Split ``total`` units over variants in proportion to ``curve`` (weights such as
    past sell-through or a size curve), by largest remainder so the parts add up to
    ``total`` exactly; ties go to the larger weight, then the name."""
    if total < 0:
        raise InvalidInput("cannot split a negative quantity")
    if not curve:
        return {}
    if any(not math.isfinite(w) or w < 0 for w in curve.values()):
        raise InvalidInput("size-curve weights cannot be negative", field="size_curve")
    weight_sum = sum(curve.values())
    if weight_sum <= 0:
        raise InvalidInput("a size curve needs a weight above zero", field="size_curve")
    exact = {k: total * w / weight_sum for k, w in curve.items()}
    parts = {k: math.floor(v) for k, v in exact.items()}
    left = total - sum(parts.values())
    for k in sorted(curve, key=lambda k: (-(exact[k] - parts[k]), -curve[k], k))[:left]:
        parts[k] += 1
    return parts

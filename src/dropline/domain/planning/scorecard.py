"""The launch scorecard: six variables a creator weighs before a production run, a
weighted 0–100 total, a go / review / no-go decision, proposed scores where there is
evidence, and the stress test ("can this launch survive a 14-day delay, a two-point
colour variation and a 3 % defect rate?").

Pure domain: standard library only. Every score is 1 (bad) to 5 (good) for the launch:
a *simple* product scores 5 on complexity, a *low* return risk scores 5 on return risk.
The total maps 1 → 0 and 5 → 100 per variable, weighted:

    total = 100 · Σ wᵢ·(sᵢ − 1) / (4 · Σ wᵢ)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from dropline.domain.errors import InvalidInput

DEFAULT_GO_AT = 70
DEFAULT_REVIEW_AT = 50
MAX_WEIGHT = 100
MAX_NOTE = 500
STRESS_DELAY_DAYS = 14
STRESS_DEFECT_RATE = Fraction(3, 100)


class Variable(StrEnum):
    DEMAND_CERTAINTY = "demand_certainty"
    MARGIN = "margin"
    COMPLEXITY = "complexity"
    LEAD_TIME = "lead_time"
    RETURN_RISK = "return_risk"
    CONTENT_VALUE = "content_value"


class Verdict(StrEnum):
    GO = "go"
    REVIEW = "review"
    NO_GO = "no_go"


@dataclass(frozen=True)
class Score:
    value: int
    note: str = ""


@dataclass(frozen=True)
class Thresholds:
    """``go`` at or above ``go_at``, ``review`` at or above ``review_at``, else ``no_go``."""

    go_at: int = DEFAULT_GO_AT
    review_at: int = DEFAULT_REVIEW_AT

    def __post_init__(self) -> None:
        if not 0 <= self.review_at <= self.go_at <= 100:
            raise InvalidInput(
                "thresholds must satisfy 0 <= review_at <= go_at <= 100", field="thresholds"
            )


def check_scores(scores: Mapping[str, Score], weights: Mapping[str, int]) -> None:
    """Every one of the six variables scored 1–5 (a note of at most 500 characters);
    weights only for those variables, 0–100, not all zero."""
    names = {v.value for v in Variable}
    unknown = (set(scores) | set(weights)) - names
    if unknown:
        raise InvalidInput(
            f"unknown scorecard variable {sorted(unknown)[0]}; the variables are "
            + ", ".join(v.value for v in Variable),
            field="scores",
        )
    missing = names - set(scores)
    if missing:
        raise InvalidInput(
            "score every variable; missing " + ", ".join(sorted(missing)), field="scores"
        )
    for name, s in scores.items():
        if not 1 <= s.value <= 5:
            raise InvalidInput(f"{name} must be scored 1 to 5", field=f"scores.{name}")
        if len(s.note) > MAX_NOTE:
            raise InvalidInput(f"the note on {name} is too long", field=f"scores.{name}")
    for name, w in weights.items():
        if not 0 <= w <= MAX_WEIGHT:
            raise InvalidInput(f"weight {name} must be 0 to {MAX_WEIGHT}", field="weights")
    if sum(effective_weights(weights).values()) == 0:
        raise InvalidInput("at least one weight must be above zero", field="weights")


def effective_weights(weights: Mapping[str, int]) -> dict[str, int]:
    """Every variable's weight: the given one, else 1 (equal weights by default)."""
    return {v.value: int(weights.get(v.value, 1)) for v in Variable}


def total(scores: Mapping[str, Score], weights: Mapping[str, int]) -> int:
    """The weighted 0–100 total, rounded half up."""
    w = effective_weights(weights)
    num = sum(w[k] * (scores[k].value - 1) for k in w)
    exact = Fraction(100 * num, 4 * sum(w.values()))
    return math.floor(exact + Fraction(1, 2))


def verdict(score_total: int, thresholds: Thresholds) -> Verdict:
    if score_total >= thresholds.go_at:
        return Verdict.GO
    if score_total >= thresholds.review_at:
        return Verdict.REVIEW
    return Verdict.NO_GO


# --------------------------------------------------------------------------- proposals


@dataclass(frozen=True)
class Proposal:
    """A score dropline proposes from evidence, and why."""

    variable: Variable
    value: int
    why: str


def _band(value: float, bands: tuple[float, float, float, float]) -> int:
    """5 at or above the first bound, 4 at or above the second, ... 1 below the last."""
    for score, bound in zip((5, 4, 3, 2), bands, strict=True):
        if value >= bound:
            return score
    return 1


def propose_margin(price: int, cost: int, source: str) -> Proposal:
    """Gross margin (price − cost) / price: 60 % or more is 5, 45 % 4, 30 % 3, 15 % 2."""
    pct = 100 * (price - cost) / price if price > 0 else 0.0
    return Proposal(
        Variable.MARGIN,
        _band(pct, (60, 45, 30, 15)),
        f"gross margin {pct:.0f} % (price {price}, unit cost {cost}, from {source})",
    )


def propose_lead_time(slack_to_stream_days: int, unit: str) -> Proposal:
    """Days the chain can slip before the stream itself moves (slack plus buffer):
    21 or more is 5, 14 is 4, 7 is 3, 0 is 2, negative (late already) is 1."""
    return Proposal(
        Variable.LEAD_TIME,
        _band(slack_to_stream_days, (21, 14, 7, 0)),
        f"the timeline can slip {slack_to_stream_days} {unit} days before the stream",
    )


def propose_return_risk(
    returned: int, sold: int, defective: int, inspected: int, basis: str
) -> Proposal | None:
    """The worse of the past return rate and defect rate (in %): at most 2 is 5, 5 is 4,
    10 is 3, 20 is 2, more is 1. None without any history."""
    rates = []
    parts = []
    if sold > 0:
        rates.append(100 * returned / sold)
        parts.append(f"{returned} of {sold} units returned ({rates[-1]:.1f} %)")
    if inspected > 0:
        rates.append(100 * defective / inspected)
        parts.append(f"{defective} of {inspected} inspected units defective ({rates[-1]:.1f} %)")
    if not rates:
        return None
    worst = max(rates)
    score = 5 if worst <= 2 else 4 if worst <= 5 else 3 if worst <= 10 else 2 if worst <= 20 else 1
    return Proposal(Variable.RETURN_RISK, score, f"{basis}: " + "; ".join(parts))


def propose_demand(
    signals: int, planned: int, sell_through_pct: float | None, detail: str
) -> Proposal | None:
    """Demand certainty from signals (waitlist sign-ups and pre-ordered units) against
    the planned units, or past sell-through: the better of coverage and sell-through,
    80 % or more is 5, 60 % 4, 40 % 3, 20 % 2. None without any signal or plan."""
    measures = []
    if planned > 0 and signals > 0:
        measures.append(100 * signals / planned)
    if sell_through_pct is not None:
        measures.append(sell_through_pct)
    if not measures:
        return None
    return Proposal(Variable.DEMAND_CERTAINTY, _band(max(measures), (80, 60, 40, 20)), detail)


# --------------------------------------------------------------------------- stress test


@dataclass(frozen=True)
class Check:
    """One stress-test check: ``status`` is ``pass``, ``fail``, ``unknown`` (not enough
    data to judge) or ``manual`` (a person must judge it); ``numbers`` say why."""

    name: str
    status: str
    detail: str
    numbers: dict[str, int | float | str | None]


def delay_check(
    slack_days: int | None, buffer_days: int, unit: str, delay_days: int = STRESS_DELAY_DAYS
) -> Check:
    """A ``delay_days`` slip of the critical path passes when the timeline's slack plus
    its buffer before the stream absorbs it (the stream date holds)."""
    if slack_days is None:
        return Check(
            "delay", "unknown", "no timeline yet", {"delay_days": delay_days, "slack_days": None}
        )
    room = slack_days + buffer_days
    ok = room >= delay_days
    return Check(
        "delay",
        "pass" if ok else "fail",
        f"a {delay_days}-day slip against {slack_days} days of slack and a {buffer_days}-day "
        f"buffer ({unit} days): "
        + (
            f"{room - delay_days} days to spare"
            if ok
            else f"the stream moves {delay_days - room} days"
        ),
        {
            "delay_days": delay_days,
            "slack_days": slack_days,
            "buffer_days": buffer_days,
            "spare_days": room - delay_days,
        },
    )


def colour_check(colour_variation_points: int = 2) -> Check:
    """dropline cannot measure colour: the QC spec's colour tolerance against the golden
    sample decides, so this check is left to a person."""
    return Check(
        "colour_variation",
        "manual",
        f"check that the QC spec tolerates a {colour_variation_points}-point colour variation "
        "against the golden sample",
        {"colour_variation_points": colour_variation_points},
    )


def defect_checks(
    quantity: int | None,
    buffer_units: int,
    price: int | None,
    cost: int | None,
    min_margin_pct: int,
    rate: Fraction = STRESS_DEFECT_RATE,
) -> list[Check]:
    """A defect ``rate`` of the run against the buffer stock (enough spare units to
    replace every defective one) and against the margin (the run still earns at least
    ``min_margin_pct`` % when the defective units are written off)."""
    pct = float(rate * 100)
    if not quantity or price is None or cost is None:
        why = "no first-run quantity and price yet (add a scenario)"
        return [
            Check("defects_vs_buffer", "unknown", why, {"defect_rate_pct": pct}),
            Check("defects_vs_margin", "unknown", why, {"defect_rate_pct": pct}),
        ]
    defective = math.ceil(quantity * rate)
    buffer_ok = buffer_units >= defective
    good = quantity - defective
    revenue = price * good
    margin = revenue - cost * quantity
    margin_pct = 100 * margin / revenue if revenue > 0 else -100.0
    before_pct = 100 * (price - cost) / price if price > 0 else 0.0
    margin_ok = margin > 0 and margin_pct >= min_margin_pct
    return [
        Check(
            "defects_vs_buffer",
            "pass" if buffer_ok else "fail",
            f"{defective} defective units of {quantity} at {pct:g} % against {buffer_units} "
            "buffer units",
            {"defect_rate_pct": pct, "defective_units": defective, "buffer_units": buffer_units},
        ),
        Check(
            "defects_vs_margin",
            "pass" if margin_ok else "fail",
            f"margin {before_pct:.1f} % falls to {margin_pct:.1f} % when {defective} units are "
            f"written off (minimum {min_margin_pct} %)",
            {
                "defect_rate_pct": pct,
                "defective_units": defective,
                "margin_pct_before": round(before_pct, 1),
                "margin_pct_after": round(margin_pct, 1),
                "gross_margin_after": margin,
                "min_margin_pct": min_margin_pct,
            },
        ),
    ]

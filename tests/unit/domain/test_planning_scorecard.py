"""The launch scorecard: weighted 0–100 totals, thresholds, proposals from evidence and
the stress test's numbers."""

from __future__ import annotations

import pytest

from dropline.domain.errors import InvalidInput
from dropline.domain.planning.scorecard import (
    Score,
    Thresholds,
    Variable,
    Verdict,
    check_scores,
    defect_checks,
    delay_check,
    propose_demand,
    propose_lead_time,
    propose_margin,
    propose_return_risk,
    total,
    verdict,
)

ALL = [v.value for v in Variable]


def scores(**values: int) -> dict[str, Score]:
    return {v: Score(values.get(v, 3)) for v in ALL}


def test_total_maps_one_to_zero_and_five_to_a_hundred() -> None:
    assert total({v: Score(1) for v in ALL}, {}) == 0
    assert total({v: Score(5) for v in ALL}, {}) == 100
    assert total(scores(), {}) == 50
    # Equal weights: (4 + 4 + 2 + 2 + 2 + 2) / 24 = 16/24 → 66.67 → 67.
    assert total(scores(margin=5, lead_time=5), {}) == 67
    # Margin weighted 3: (3·4 + 4 + 2·4) / (4·8) = 24/32 = 75.
    assert total(scores(margin=5, lead_time=5), {"margin": 3}) == 75
    # A zero weight leaves the variable out.
    assert total(scores(complexity=1), {"complexity": 0}) == 50


def test_thresholds_give_go_review_and_no_go() -> None:
    t = Thresholds()
    assert (verdict(70, t), verdict(69, t), verdict(50, t), verdict(49, t)) == (
        Verdict.GO,
        Verdict.REVIEW,
        Verdict.REVIEW,
        Verdict.NO_GO,
    )
    assert verdict(60, Thresholds(go_at=60, review_at=40)) is Verdict.GO
    with pytest.raises(InvalidInput):
        Thresholds(go_at=40, review_at=60)


@pytest.mark.parametrize(
    ("given", "weights", "words"),
    [
        ({v: Score(3) for v in ALL[:5]}, {}, "missing content_value"),
        (scores() | {"vibes": Score(3)}, {}, "unknown scorecard variable vibes"),
        (scores(margin=6), {}, "1 to 5"),
        (scores(), {"margin": -1}, "weight"),
        (scores(), dict.fromkeys(ALL, 0), "above zero"),
    ],
)
def test_bad_scorecards_are_refused(
    given: dict[str, Score], weights: dict[str, int], words: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        check_scores(given, weights)
    assert words in err.value.detail


def test_proposals_follow_the_evidence() -> None:
    assert propose_margin(5000, 1800, "scenario").value == 5  # 64 %
    assert propose_margin(5000, 3000, "scenario").value == 3  # 40 %
    assert propose_margin(5000, 4900, "scenario").value == 1  # 2 %
    assert propose_lead_time(25, "calendar").value == 5
    assert propose_lead_time(-3, "calendar").value == 1
    risk = propose_return_risk(returned=6, sold=100, defective=1, inspected=200, basis="mfr")
    assert risk is not None and risk.value == 3 and "6 of 100" in risk.why  # 6 % returns
    assert propose_return_risk(0, 0, 0, 0, "none") is None
    demand = propose_demand(signals=170, planned=200, sell_through_pct=None, detail="x")
    assert demand is not None and demand.value == 5  # 85 % covered
    assert propose_demand(0, 200, None, "x") is None


def test_stress_test_delay_against_slack_and_buffer() -> None:
    ok = delay_check(slack_days=10, buffer_days=7, unit="calendar")
    assert ok.status == "pass" and ok.numbers["spare_days"] == 3
    bad = delay_check(slack_days=2, buffer_days=7, unit="calendar")
    assert bad.status == "fail" and bad.numbers["spare_days"] == -5
    assert "stream moves 5 days" in bad.detail
    assert delay_check(None, 7, "calendar").status == "unknown"


def test_stress_test_defects_against_buffer_and_margin() -> None:
    """3 % of 1,000 units = 30 defective. 25 buffer units are not enough; at $50 with a
    $20 cost the margin falls from 60 % to 58.8 % (970 good units pay for 1,000)."""
    buffer, margin = defect_checks(1000, 25, 5000, 2000, min_margin_pct=0)
    assert buffer.status == "fail" and buffer.numbers["defective_units"] == 30
    assert margin.status == "pass" and margin.numbers["margin_pct_after"] == 58.8
    buffer, margin = defect_checks(1000, 30, 5000, 4900, min_margin_pct=0)
    assert buffer.status == "pass" and margin.status == "fail"  # 2 % margin cannot absorb 3 %
    assert [c.status for c in defect_checks(None, 0, None, None, 0)] == ["unknown", "unknown"]

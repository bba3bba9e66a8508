"""The pure rules of production runs and pre-orders: MOQ, cost tiers, ship estimates,
the mail-order-rule delay classification (first and renewed delays, lapsed promises),
milestone order, FIFO allocation and reorder proposals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dropline.domain.errors import InvalidInput, MilestoneOutOfOrder
from dropline.domain.supply.production import (
    Consent,
    Milestone,
    RunLine,
    ShipEstimate,
    Waiting,
    allocate_fifo,
    check_milestone_order,
    check_moq,
    classify_delay,
    promise_lapsed,
    renews_a_delay,
    reorder_due,
    reorder_quantities,
    ship_estimate,
    unit_cost,
    validate_lines,
)

T0 = datetime(2027, 3, 1, 12, tzinfo=UTC)


def test_moq_shortfall_per_sku_and_run() -> None:
    lines = [RunLine("a", 80, moq=100), RunLine("b", 150, moq=100)]
    short = check_moq(lines, run_moq=300)
    assert dict(short.per_sku) == {"a": 20} and short.run == 70 and not short.ok
    assert check_moq(lines, run_moq=230).run == 0
    assert check_moq([RunLine("a", 100, moq=100)], 100).ok


def test_lines_are_validated() -> None:
    with pytest.raises(InvalidInput):
        validate_lines([])
    with pytest.raises(InvalidInput):
        validate_lines([RunLine("a", 1), RunLine("a", 2)])
    with pytest.raises(InvalidInput):
        validate_lines([RunLine("a", 5, tiers=((10, 100), (10, 90)))])


def test_unit_cost_picks_the_largest_tier_reached() -> None:
    tiers = ((1, 2100), (250, 1800), (1000, 1500))
    assert unit_cost(RunLine("a", 249, tiers=tiers)) == 2100
    assert unit_cost(RunLine("a", 250, tiers=tiers)) == 1800
    assert unit_cost(RunLine("a", 5000, tiers=tiers)) == 1500
    assert unit_cost(RunLine("a", 5, tiers=((10, 100),))) is None


def test_ship_estimate_is_intake_plus_handling() -> None:
    est = ship_estimate(T0, 2, 5)
    assert (est.earliest, est.latest) == (T0 + timedelta(days=2), T0 + timedelta(days=5))
    assert not ship_estimate(None, 2, 5).known
    with pytest.raises(InvalidInput):
        ship_estimate(T0, 5, 2)


@pytest.mark.parametrize(
    ("days", "delayed", "consent"),
    [
        (-3, False, Consent.NOT_NEEDED),
        (0, False, Consent.NOT_NEEDED),
        (1, True, Consent.SILENT),
        (30, True, Consent.SILENT),
        (31, True, Consent.REQUIRED),
        (45, True, Consent.REQUIRED),
    ],
)
def test_delay_classification_follows_the_mail_order_rule(
    days: int, delayed: bool, consent: Consent
) -> None:
    new = ShipEstimate(T0, T0 + timedelta(days=days))
    decision = classify_delay(T0, new)
    assert (decision.delayed, decision.consent) == (delayed, consent)
    if delayed:
        assert decision.days == days


def test_a_partial_day_counts_as_a_day_and_unknown_needs_consent() -> None:
    assert classify_delay(T0, ShipEstimate(None, T0 + timedelta(days=30, hours=1))).consent is (
        Consent.REQUIRED
    )
    unknown = classify_delay(T0, ShipEstimate(None, None))
    assert unknown.delayed and unknown.days is None and unknown.consent is Consent.REQUIRED


@pytest.mark.parametrize("days", [1, 10, 30, 31, None])
def test_a_renewed_delay_is_never_consented_to_by_silence(days: int | None) -> None:
    """16 CFR 435.2(b)(2): after a first delay, any further one needs express consent."""
    latest = None if days is None else T0 + timedelta(days=days)
    first = classify_delay(T0, ShipEstimate(None, latest))
    renewed = classify_delay(T0, ShipEstimate(None, latest), renewed=True)
    assert first.delayed and renewed.delayed and renewed.renewed and not first.renewed
    assert renewed.consent is Consent.REQUIRED
    assert first.consent is (
        Consent.SILENT if days is not None and days <= 30 else (Consent.REQUIRED)
    )
    # Back within the promise is no delay, renewed or not.
    back = classify_delay(T0, ShipEstimate(None, T0), renewed=True)
    assert not back.delayed and back.consent is Consent.NOT_NEEDED


def test_which_consent_states_make_the_next_delay_a_renewed_one() -> None:
    assert [renews_a_delay(c.value) for c in Consent] == [False, True, True, True]
    assert [c.value for c in Consent] == ["not_needed", "silent", "required", "given"]


def test_a_promise_lapses_once_its_date_passes_unless_consent_is_pending() -> None:
    for consent in ("not_needed", "silent", "given"):
        assert not promise_lapsed(T0, consent, T0)
        assert promise_lapsed(T0, consent, T0 + timedelta(seconds=1))
    # Waiting for an express answer: the consent deadline decides, not this rule.
    assert not promise_lapsed(T0, "required", T0 + timedelta(days=9))
    # The buyer accepted an unknown date: nothing to lapse.
    assert not promise_lapsed(None, "given", T0 + timedelta(days=9))


def test_final_qc_may_not_fall_after_the_warehouse_intake() -> None:
    qc, intake = Milestone.FINAL_QC, Milestone.WAREHOUSE_INTAKE
    late = {qc: T0 + timedelta(days=1), intake: T0}
    for changed in (qc, intake):  # refused whichever of the two moved
        with pytest.raises(MilestoneOutOfOrder) as info:
            check_milestone_order(late, changed)
        err = info.value
        assert (err.code, err.extra["milestone"], err.extra["must_precede"]) == (
            "milestone_out_of_order",
            "final_qc",
            "warehouse_intake",
        )
        assert "final_qc" in err.detail and "warehouse_intake" in err.detail
        assert isinstance(err, InvalidInput)  # a 422, like any bad input
    check_milestone_order(late, Milestone.PACKING)  # an unrelated edit is not blocked
    check_milestone_order({qc: T0, intake: T0}, qc)  # the same day is in order
    check_milestone_order({qc: T0 + timedelta(days=1), intake: None}, qc)  # unknown intake
    check_milestone_order({qc: None, intake: T0}, intake)


def test_fifo_allocation_by_payment_time_with_a_partial_fill() -> None:
    waiting = [
        Waiting("ord_c", T0 + timedelta(seconds=3), 2),
        Waiting("ord_a", T0 + timedelta(seconds=1), 2),
        Waiting("ord_b", T0 + timedelta(seconds=2), 2),
    ]
    plan, left = allocate_fifo(5, waiting)
    assert plan == {"ord_a": 2, "ord_b": 2, "ord_c": 1} and left == 0
    plan, left = allocate_fifo(10, waiting)
    assert sum(plan.values()) == 6 and left == 4
    assert allocate_fifo(0, waiting) == ({}, 0)


def test_reorder_is_due_only_within_the_window() -> None:
    args = {"planned": 100, "threshold_pct": 60, "window_days": 14, "started": T0}
    assert not reorder_due(sold=59, now=T0 + timedelta(days=1), **args)  # type: ignore[arg-type]
    assert reorder_due(sold=60, now=T0 + timedelta(days=1), **args)  # type: ignore[arg-type]
    assert not reorder_due(sold=90, now=T0 + timedelta(days=15), **args)  # type: ignore[arg-type]
    assert reorder_quantities({"a": 10, "b": 10}, {"a": 7}, {"b": 5}) == {"a": 7, "b": 5}

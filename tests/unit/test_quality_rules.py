"""The quality loop's pure rules: which shelf units are a lot's, thresholds, rates,
the forced switch to tightened inspection and when an alert may close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dropline.domain.errors import Conflict, InvalidInput
from dropline.domain.supply.aql import Severity, SwitchingState
from dropline.domain.supply.quality import (
    AlertStatus,
    ShelfFlow,
    check_close,
    parse_threshold_pct,
    passes_threshold,
    rate_bp,
    shelf_by_lot,
    threshold_for,
)


def test_the_shelf_sells_first_in_first_out_and_containment_takes_its_lot() -> None:
    flows = [
        ShelfFlow(3, True, "L0"),
        ShelfFlow(10, True, "L1"),
        ShelfFlow(5, False),  # L0's 3, then 2 of L1
        ShelfFlow(4, True),  # not from a lot
        ShelfFlow(2, True, "L2"),
        ShelfFlow(3, False, "L1"),  # contained: L1's own units, not the oldest
        ShelfFlow(6, False),  # L1's 5, then 1 of the lot-less 4
    ]
    got = shelf_by_lot(flows)
    assert got.remaining == {"L2": 2}
    assert got.consumed == {"L0": 3, "L1": 7}


def test_a_lot_returning_to_the_shelf_is_its_newest_batch() -> None:
    got = shelf_by_lot(
        [ShelfFlow(2, True, "L0"), ShelfFlow(1, True, "L1"), ShelfFlow(1, True, "L0")]
    )
    assert got.remaining == {"L0": 3, "L1": 1} and got.consumed == {}


@pytest.mark.parametrize(
    ("given", "bp"), [(0, 0), (100, 10_000), ("2.5", 250), (0.01, 1), (12, 1200)]
)
def test_thresholds_are_percent_with_two_decimals(given: object, bp: int) -> None:
    assert parse_threshold_pct(given) == bp


@pytest.mark.parametrize("given", [-0.01, 100.01, "x", "nan", "inf", 0.001, True, None, [5]])
def test_bad_thresholds_are_refused(given: object) -> None:
    with pytest.raises(InvalidInput):
        parse_threshold_pct(given)


def test_rate_and_passing() -> None:
    assert rate_bp(1, 3) == 3333 and rate_bp(5, 0) == 0
    assert not passes_threshold(1, 2, 5000)  # exactly at the threshold
    assert passes_threshold(1, 2, 4999)
    assert passes_threshold(1, 3, 3333)  # 33.33...% is above 33.33 % (exact ratio)
    assert not passes_threshold(0, 10, 0) and not passes_threshold(1, 0, 0)
    assert threshold_for("m1", {"m1": 10, "*": 20}) == 10
    assert threshold_for("m2", {"m1": 10, "*": 20}) == 20
    assert threshold_for("m2", {}) == 500


def test_tighten_never_loosens_or_resumes() -> None:
    assert SwitchingState().tighten().severity is Severity.TIGHTENED
    assert SwitchingState(severity=Severity.REDUCED).tighten() == SwitchingState(
        severity=Severity.TIGHTENED
    )
    on = SwitchingState(severity=Severity.TIGHTENED, tightened_accept_run=3)
    assert on.tighten() is on
    stopped = SwitchingState(severity=Severity.TIGHTENED, discontinued=True)
    assert stopped.tighten() is stopped


def test_an_alert_closes_with_an_action_and_a_later_passed_lot_of_its_maker() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    later = t0 + timedelta(days=1)
    ok = {
        "manufacturer_id": "m1",
        "closing_manufacturer_id": "m1",
        "closing_lot_passed": True,
        "closing_received_at": later,
        "opened_at": t0,
    }
    assert check_close(AlertStatus.OPEN, " new jig ", **ok) == "new jig"  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        check_close(AlertStatus.CLOSED, "x", **ok)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        check_close(AlertStatus.OPEN, "  ", **ok)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        check_close(AlertStatus.OPEN, "x", **ok | {"closing_manufacturer_id": "m2"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        check_close(AlertStatus.OPEN, "x", **ok | {"closing_received_at": t0})  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        check_close(AlertStatus.OPEN, "x", **ok | {"closing_lot_passed": False})  # type: ignore[arg-type]

"""Count-session rules without a database: what a count may be, what a variance
becomes, who may decide it, and which movements book it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dropline.domain.errors import Conflict, InsufficientStock, InvalidInput, SelfApproval
from dropline.domain.stock.buckets import Bucket, StockLevel
from dropline.domain.stock.counts import (
    UNPLACED,
    CountLine,
    CountSession,
    LineStatus,
    SessionStatus,
    check_counted,
    check_decision,
    line_status,
    uncounted,
    variance_movements,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _line(expected: int, counted: int, status: LineStatus = LineStatus.PENDING) -> CountLine:
    return CountLine("cnt_1", "bin_1", "s", expected, counted, status, "cody", NOW)


def test_a_count_is_at_least_one_unless_none_found() -> None:
    assert check_counted(3, False) == 3
    assert check_counted(None, True) == 0
    for bad in (0, -1, None, 10_000_001):
        with pytest.raises(InvalidInput):
            check_counted(bad, False)
    with pytest.raises(InvalidInput):
        check_counted(2, True)


def test_variances_within_the_threshold_are_booked_larger_ones_wait() -> None:
    assert line_status(0, 0) is LineStatus.MATCHED
    assert line_status(-2, 2) is LineStatus.APPLIED
    assert line_status(3, 2) is LineStatus.PENDING
    assert line_status(1, 0) is LineStatus.PENDING


def test_only_someone_else_decides_a_pending_variance() -> None:
    assert check_decision(_line(5, 4), " olga ", " why ") == ("olga", "why")
    with pytest.raises(SelfApproval):
        check_decision(_line(5, 4), "cody", "mine")
    with pytest.raises(Conflict):
        check_decision(_line(5, 4, LineStatus.APPROVED), "olga", "again")
    with pytest.raises(InvalidInput):
        check_decision(_line(5, 4), "olga", "")


def test_missing_units_come_from_available_then_safety_never_from_an_offer() -> None:
    level = StockLevel("s", available=1, safety=2, reserved=10)
    moves = variance_movements(level, _line(10, 7), actor="olga", note="n", ref="cnt_1")
    assert [(m.quantity, m.from_bucket, m.from_bin) for m in moves] == [
        (1, Bucket.AVAILABLE, "bin_1"),
        (2, Bucket.SAFETY, "bin_1"),
    ]
    with pytest.raises(InsufficientStock):
        variance_movements(level, _line(10, 6), actor="olga", note="n", ref="cnt_1")
    [found] = variance_movements(level, _line(1, 4), actor="olga", note="n", ref="cnt_1")
    assert (found.quantity, found.to_bucket, found.to_bin) == (3, Bucket.AVAILABLE, "bin_1")


def test_what_is_left_to_count() -> None:
    s = CountSession("cnt_1", SessionStatus.OPEN, True, 0, ("bin_1", UNPLACED), ("a", "b"), "",
                     "olga", NOW)  # fmt: skip
    holding = {"bin_1": {"a": 2, "b": 0, "c": 5}, UNPLACED: {"b": 1}}
    assert uncounted(s, holding, [("bin_1", "a")]) == [(UNPLACED, "b")]

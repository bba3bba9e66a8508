"""What the drop schedule says is due, and the countdown (pure rules)."""

from __future__ import annotations

import pytest

from dropline.domain.errors import InvalidInput
from dropline.domain.live.drops import (
    Drop,
    DropStatus,
    check_schedule,
    check_start_ahead,
    due_to_end,
    due_to_open,
    seconds_until_start,
)


def drop(status: DropStatus, starts: float | None = 100.0, ends: float | None = None) -> Drop:
    return Drop("drp_1", "D", "USD", status, starts_at=starts, ends_at=ends)


def test_a_schedule_must_end_after_it_starts() -> None:
    check_schedule(100.0, 100.5)
    check_schedule(None, 50.0)
    check_schedule(100.0, None)
    for ends in (100.0, 99.0):
        with pytest.raises(InvalidInput):
            check_schedule(100.0, ends)


def test_scheduling_needs_a_start_still_ahead() -> None:
    check_start_ahead(drop(DropStatus.DRAFT, starts=100.0), 99.9)
    check_start_ahead(drop(DropStatus.DRAFT, starts=None), 1e12)
    with pytest.raises(InvalidInput):
        check_start_ahead(drop(DropStatus.DRAFT, starts=100.0), 100.0)


@pytest.mark.parametrize(
    ("status", "now", "opens", "ends"),
    [
        (DropStatus.SCHEDULED, 99.9, False, False),
        (DropStatus.SCHEDULED, 100.0, True, False),
        (DropStatus.DRAFT, 150.0, False, False),  # only a scheduled drop opens
        (DropStatus.LIVE, 150.0, False, False),
        (DropStatus.LIVE, 200.0, False, True),
        (DropStatus.PAUSED, 200.0, False, True),
        (DropStatus.SCHEDULED, 200.0, False, True),  # its window passed unopened
        (DropStatus.ENDED, 300.0, False, False),
        (DropStatus.DRAFT, 300.0, False, False),
    ],
)
def test_what_is_due(status: DropStatus, now: float, opens: bool, ends: bool) -> None:
    d = drop(status, starts=100.0, ends=200.0)
    assert (due_to_open(d, now), due_to_end(d, now)) == (opens, ends)


def test_the_countdown_rounds_up_and_stops_once_open() -> None:
    assert seconds_until_start(drop(DropStatus.SCHEDULED), 9.5) == 91
    assert seconds_until_start(drop(DropStatus.SCHEDULED), 99.99) == 1
    assert seconds_until_start(drop(DropStatus.SCHEDULED), 120.0) == 0
    assert seconds_until_start(drop(DropStatus.DRAFT), 40.0) == 60
    assert seconds_until_start(drop(DropStatus.LIVE), 40.0) is None
    assert seconds_until_start(drop(DropStatus.SCHEDULED, starts=None), 40.0) is None

"""The login rate limit's rule: failures per key in a sliding window, bounded memory."""

from __future__ import annotations

import pytest

from dropline.domain.platform.attempts import AttemptWindow


def test_the_nth_failure_blocks_until_the_oldest_leaves_the_window() -> None:
    w = AttemptWindow(max_failures=3, window_s=60)
    for t in (0.0, 10.0, 20.0):
        assert w.retry_after("a", t) == 0
        w.failed("a", t)
    assert w.retry_after("a", 30.0) == pytest.approx(30.0)  # the one at t=0 leaves at 60
    assert w.retry_after("b", 30.0) == 0  # another address is not affected
    assert w.retry_after("a", 60.0) == 0
    w.failed("a", 61.0)
    assert w.retry_after("a", 62.0) == pytest.approx(8.0)  # 10, 20, 61: 10 leaves at 70


def test_a_success_forgets_the_failures() -> None:
    w = AttemptWindow(max_failures=2, window_s=60)
    w.failed("a", 0.0)
    w.failed("a", 1.0)
    assert w.retry_after("a", 2.0) > 0
    w.succeeded("a")
    assert w.retry_after("a", 2.0) == 0


def test_memory_is_bounded_by_forgetting_the_least_recent_key() -> None:
    w = AttemptWindow(max_failures=1, window_s=600, max_keys=2)
    w.failed("a", 0.0)
    w.failed("b", 1.0)
    w.failed("c", 2.0)
    assert w.retry_after("a", 3.0) == 0  # forgotten
    assert w.retry_after("b", 3.0) > 0 and w.retry_after("c", 3.0) > 0


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        AttemptWindow(max_failures=0, window_s=60)

"""Failed attempts per address in a sliding window: the rule behind the login page's
rate limit. Pure and clocked by the caller, so it is tested without waiting."""

from __future__ import annotations

from collections import OrderedDict, deque


class AttemptWindow:
    """At most ``max_failures`` failed attempts per key in any ``window_s`` seconds.

    Memory is bounded: at most ``max_keys`` keys are remembered, the least recently
    seen forgotten first (an attacker rotating addresses only forgets their own)."""

    def __init__(self, max_failures: int, window_s: float, max_keys: int = 10_000) -> None:
        if max_failures < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("max_failures, window_s and max_keys must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._fails: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._fails.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._fails[key]
        return times

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        times = self._recent(key, now)
        if len(times) < self.max_failures:
            return 0.0
        return max(times[0] + self.window_s - now, 0.0)

    def failed(self, key: str, now: float) -> None:
        """Count one failed attempt of ``key`` at ``now``."""
        times = self._recent(key, now)
        times.append(now)
        self._fails[key] = times
        self._fails.move_to_end(key)
        while len(self._fails) > self.max_keys:
            self._fails.popitem(last=False)

    def succeeded(self, key: str) -> None:
        """A success forgets the key's failures."""
        self._fails.pop(key, None)

"""The sold-out fast path of an engine whose stock lives in another process.

When a SKU is gone, a flash sale's storm keeps tapping it: thousands of identical hold
requests a second, each of which the Redis engine would send to Redis only to be told
``sold_out`` again. The gate remembers a ``SoldOut`` answer for a short window (0.2 s by
default) and gives it again, in-process, to the same request shape (drop and units per
SKU) without a round trip.

What the window trades: stock can come back (a hold released or expired, units added),
and until the window closes this process may still refuse the shape. The process
forgets a drop's answers at once when it changes that drop itself (release, expiry,
offer, pause, accepting, reload); a change made by another process is seen at the
latest when the window closes. A refusal can only be late, never wrong in the other
direction: the gate never grants a unit, so it cannot oversell.

Requests carrying an idempotency key never use the gate: the key's earlier hold must be
replayed even after the SKU sold out. ``InsufficientStock`` is not remembered (its
``remaining`` goes stale), nor are buyer-specific refusals.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dropline.domain.errors import SoldOut

#: A request's shape: the drop and its (SKU, units) pairs in SKU order.
Shape = tuple[str, tuple[tuple[str, int], ...]]

DEFAULT_WINDOW_S = 0.2
MAX_SHAPES = 4096


class SoldOutGate:
    """``SoldOut`` answers by request shape, each good for ``window_s`` (0 disables).

    Times come from ``clock`` (monotonic seconds), not from the caller's ``now``: the
    window is a moment of real time whatever clock the service runs on."""

    def __init__(
        self,
        window_s: float = DEFAULT_WINDOW_S,
        *,
        max_shapes: int = MAX_SHAPES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_s < 0:
            raise ValueError("the sold-out window cannot be negative")
        self._window_s = window_s
        self._max = max_shapes
        self._clock = clock
        self._answers: dict[Shape, tuple[float, SoldOut]] = {}

    def check(self, shape: Shape) -> SoldOut | None:
        """A fresh copy of the remembered refusal for ``shape`` while its window is
        open, else None (a fresh one: re-raising one instance would grow its traceback
        with every tap)."""
        hit = self._answers.get(shape)
        if hit is None:
            return None
        until, err = hit
        if self._clock() < until:
            return SoldOut(err.detail, **err.extra)
        del self._answers[shape]
        return None

    def remember(self, shape: Shape, err: SoldOut) -> None:
        """Keep ``err`` as the answer for ``shape`` for one window; a full table is
        emptied first (the storm's few shapes come straight back)."""
        if self._window_s <= 0:
            return
        if len(self._answers) >= self._max:
            self._answers.clear()
        self._answers[shape] = (self._clock() + self._window_s, err)

    def forget(self, drop_id: str | None = None) -> None:
        """Drop the answers of ``drop_id`` (every drop when None): its stock changed."""
        if drop_id is None:
            self._answers.clear()
        elif self._answers:
            for shape in [s for s in self._answers if s[0] == drop_id]:
                del self._answers[shape]

    def __len__(self) -> int:
        return len(self._answers)

"""The live monitor's velocity chart as a server-rendered SVG, cached per drop.

The monitor's snapshot changes twice a second during a drop and every open monitor asks
for the chart; a matplotlib render costs tens of milliseconds of CPU. So each process
keeps the last SVG per drop and draws a new one at most once every ``min_age_s`` seconds,
and only when the minute buckets changed: during the peak, any number of viewers cost
one render per drop per 5 s. The render runs in a worker thread (``asyncio.to_thread``)
so the event loop keeps serving holds meanwhile; a per-drop lock makes concurrent
requests for a stale chart wait for one render instead of starting one each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dropline.web.chart import velocity_chart

Points = list[dict[str, Any]]


@dataclass
class _Entry:
    at: float
    points: Points
    svg: str


@dataclass
class VelocityCharts:
    """Per-drop cache of the velocity SVG. ``renders`` counts matplotlib renders (the
    tests read it to see the cache work); ``clock`` is monotonic seconds."""

    min_age_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    max_drops: int = 1000
    renders: int = 0
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def svg(self, drop_id: str, points: Callable[[], Awaitable[Points]]) -> str:
        """The chart of ``drop_id``: the cached one while it is younger than
        ``min_age_s`` (``points`` is then not even called), or when the points have not
        changed since it was drawn; otherwise a fresh render."""
        hit = self._entries.get(drop_id)
        if hit is not None and self.clock() - hit.at < self.min_age_s:
            return hit.svg
        lock = self._locks.setdefault(drop_id, asyncio.Lock())
        async with lock:
            hit = self._entries.get(drop_id)  # another request may have drawn it meanwhile
            if hit is not None and self.clock() - hit.at < self.min_age_s:
                return hit.svg
            now_points = await points()
            if hit is not None and hit.points == now_points:
                hit.at = self.clock()
                return hit.svg
            svg = await asyncio.to_thread(velocity_chart, now_points)
            self.renders += 1
            if len(self._entries) >= self.max_drops and drop_id not in self._entries:
                self._entries.clear()
                self._locks = {drop_id: lock}
            self._entries[drop_id] = _Entry(self.clock(), now_points, svg)
            return svg


#: The process's cache, shared by every request of the web console.
CHARTS = VelocityCharts()

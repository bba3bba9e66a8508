"""Refused taps: holds refused because a SKU was sold out, counted where the refusal
happens (``HoldService.place``, the same path for the in-process and the Redis engine,
the Redis engine's in-process sold-out gate included) and written in batches.

A refusal costs a dict update in this process. What was gathered is written
(``refused_taps`` rows, one per drop, SKU and buyer, counters added by upsert) by this
process's own job every ``interval_s`` (``Container.process_jobs``), by a refusal when
the last write is older than that, before the figures are read, and when the container
closes; so any number of API processes add up, with or without a worker. A process
killed between two flushes loses at most ``interval_s`` of its refusals: these are
insight figures, not stock.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from dropline.services.ports import Clock
from dropline.store.insight.funnel_repo import FunnelRepository
from dropline.store.uow import UowFactory

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # drop, SKU, buyer


class RefusedTaps:
    def __init__(self, uow: UowFactory, clock: Clock, interval_s: float = 2.0) -> None:
        self.uow = uow
        self.clock = clock
        self.interval_s = interval_s
        self._pending: dict[Key, tuple[int, int, datetime]] = {}
        self._last = clock.now()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def note(self, drop_id: str, sku_id: str, buyer_id: str, units: int) -> None:
        """One refused tap of ``buyer_id`` asking ``units`` of the sold-out ``sku_id``."""
        key = (drop_id, sku_id, buyer_id)
        got = self._pending.get(key)
        if got is None:
            at = datetime.fromtimestamp(self.clock.now(), UTC)
            self._pending[key] = (1, max(1, units), at)
        else:
            self._pending[key] = (got[0] + 1, got[1], got[2])
        now = self.clock.now()
        if now - self._last >= self.interval_s and (self._task is None or self._task.done()):
            self._last = now
            self._task = asyncio.get_running_loop().create_task(self._background())

    async def _background(self) -> None:
        try:
            await self.flush()
        except Exception:  # the next flush retries what this one put back
            log.exception("flushing refused taps failed")

    async def flush(self) -> int:
        """Write what this process gathered; returns how many rows it touched. On a
        failure the counts go back to be written by the next flush."""
        async with self._lock:
            batch, self._pending = self._pending, {}
            if not batch:
                return 0
            try:
                async with self.uow() as uow:
                    await FunnelRepository(uow.conn, self.uow.now).add_refused(batch)
                    await uow.commit()
            except BaseException:
                for key, (n, units, at) in batch.items():
                    got = self._pending.get(key)
                    self._pending[key] = (n + got[0], units, at) if got else (n, units, at)
                raise
            return len(batch)

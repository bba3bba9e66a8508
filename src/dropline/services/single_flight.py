"""Single flight: concurrent cache misses for one key share one load.

At the start of a drop thousands of requests arrive at a process whose caches are cold
(or just expired). Without this every one of them would query the database at once and
a deployment of several processes would run out of database connections; with it each
process loads each key once and the others wait for that answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._pending: dict[K, asyncio.Future[V]] = {}

    async def do(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """``await load()``, unless a load for ``key`` is already running in this event
        loop: then its result (or exception) is shared. A waiter being cancelled does
        not cancel the load the others wait for."""
        pending = self._pending.get(key)
        if pending is None:

            async def run() -> V:
                try:
                    return await load()
                finally:
                    self._pending.pop(key, None)

            pending = asyncio.ensure_future(run())
            self._pending[key] = pending
        return await asyncio.shield(pending)

"""One SQLite writer at a time per process, queued in asyncio instead of in SQLite.

SQLite allows a single writer. Every write transaction starts with ``BEGIN IMMEDIATE``
(see ``store.db``), and a second writer waits in SQLite's busy handler, which *sleeps*
and polls with growing back-off (1, 2, 5, ... 100 ms). Under a burst of checkouts dozens
of writers sleep-poll at once: the lock is often free while every waiter is asleep, and
throughput collapses (measured by ``make bench``: a handful of orders per second with 64
concurrent checkouts). Queueing writers of this process on an ``asyncio.Lock`` first
hands the lock over the moment it is released, in FIFO order; SQLite's busy handler is
then only used against other processes (the CLI, a second server).

The gate is a no-op for PostgreSQL, whose row locks need no help. A unit of work holds
it from ``BEGIN`` until its transaction ends (commit, rollback or leaving the block), so
code that rolls back and then writes elsewhere (a refund after a refused sale) does not
wait on itself. It is not re-entrant: a task must not open a write transaction while its
own is still open, which on SQLite would already wait on itself for the busy timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine

_gates: weakref.WeakKeyDictionary[AsyncEngine, dict[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _lock(engine: AsyncEngine) -> asyncio.Lock | None:
    if engine.dialect.name != "sqlite":
        return None
    loop = asyncio.get_running_loop()
    per_loop = _gates.setdefault(engine, {})
    lock = per_loop.get(loop)
    if lock is None:
        # Drop locks of closed loops (tests run one loop per test).
        for old in [lp for lp in per_loop if lp.is_closed()]:
            del per_loop[old]
        lock = per_loop[loop] = asyncio.Lock()
    return lock


async def acquire(engine: AsyncEngine) -> asyncio.Lock | None:
    """Wait for this process's turn to write on ``engine``; the lock to release, or
    ``None`` when the database needs no gate."""
    lock = _lock(engine)
    if lock is not None:
        await lock.acquire()
    return lock


@contextlib.asynccontextmanager
async def writing(engine: AsyncEngine) -> AsyncIterator[None]:
    """``async with writing(engine):`` around a write transaction on ``engine``."""
    lock = await acquire(engine)
    try:
        yield
    finally:
        if lock is not None:
            lock.release()

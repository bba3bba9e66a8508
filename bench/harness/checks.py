"""What the correctness checks wait for and compare: counts read once they are stable,
server counts against the load generator's wins, background work settled, and the
database quiesced before the growth runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from typing import Any

from .seeding import open_db
from .stacks import Stack


def stable(fn: Any, timeout: float = 30) -> Any:
    """``fn()`` once two calls 0.3 s apart agree: requests wrk left in flight finish on
    the server after wrk stops, and the checks must see their final state."""
    last = fn()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = fn()
        if now == last:
            return now
        last = now
    return last


def within(server_count: int, client_count: int, run: Any) -> bool:
    """The server counted what wrk saw win, plus at most the requests still in flight."""
    return client_count <= server_count <= client_count + int(run.extra["inflight"])


async def settle(stack: Stack, timeout: float = 600) -> None:
    """Wait until background work (hold events into pages) has caught up."""
    from sqlalchemy import text

    db = open_db(stack.database_url)
    last, since, t0 = -1, time.monotonic(), time.monotonic()
    while time.monotonic() - t0 < timeout:
        async with db.connect() as conn:
            n = (
                await conn.execute(text("SELECT coalesce(sum(n), 0) FROM hold_event_pages"))
            ).scalar_one()
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > 1.0:
            break
        await asyncio.sleep(0.25)
    await db.dispose()


async def quiesce(stack: Stack) -> None:
    """Let the database catch up on the earlier scenarios' writes (checkout, row-lock)
    before the growth runs compare latencies. PostgreSQL's autovacuum and checkpoints,
    or SQLite's WAL, would otherwise land on whichever growth run they coincide with:
    twice on the 10,000-SKU run (p99 1.7-2.8 × the 1-SKU run; run alone, 0.9 ×)."""
    if stack.database_url.startswith("postgresql"):
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(stack.database_url.replace("+asyncpg", ""))
        try:
            await conn.execute("VACUUM ANALYZE")
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()
    else:
        path = stack.database_url.split("///", 1)[1]
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as lite:
            lite.execute("PRAGMA wal_checkpoint(PASSIVE)")
    os.sync()
    await asyncio.sleep(2)

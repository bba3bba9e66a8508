"""What one checkout costs, counted: CPU per order, SQL statements per order, profile.

    .venv/bin/python -P bench/checkout_cost.py [N]        # N orders measured (default 300)

Seeds a fresh SQLite file like ``run.py`` (embedded default: memory engine, inline
SQLite), warms up, then places N sequential hold + checkout pairs through the services
(no HTTP) and prints: CPU ms per order (process time, steadier than wall time on a shared
machine), the SQL statements one order issues (grouped by text), and a cProfile of
another N orders sorted by own time. ``-P`` keeps ``bench/profile.py`` from shadowing
the standard library's ``profile`` module. ``DROPLINE_SQLITE_THREADS=1`` compares with
aiosqlite's worker threads; ``DROPLINE_GROUP_COMMIT=off`` with one transaction per order
(the concurrent line says how the writer batched them).
"""

from __future__ import annotations

import asyncio
import collections
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from dropline.bootstrap import build
from dropline.config import load_settings
from dropline.domain.live.holds import HoldItem, ItemKind
from dropline.store.db import upgrade
from dropline.store.group_commit import GroupCommitStats

AREAS = [
    ("sqlite3 (C, inline calls)", ("sqlite_inline.py",)),
    ("SQLAlchemy: build statements + cache keys", ("sqlalchemy/sql/",)),
    (
        "SQLAlchemy: execute + results",
        (
            "sqlalchemy/engine/",
            "sqlalchemy/connectors/",
            "sqlalchemy/dialects/",
            "sqlalchemy/pool/",
            "sqlalchemy/util/",
            "sqlalchemy/ext/",
            "greenlet",
            "aiosqlite",
        ),
    ),
    ("templates (jinja2)", ("jinja2", "templates/")),
    ("dropline code", ("dropline/",)),
]


def print_shares(stats: Any, n: int) -> None:
    """Own time (tottime) summed by area, per order and as a share of the whole."""
    totals: collections.Counter[str] = collections.Counter()
    for (file, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        where = f"{file}:{func}"
        area = next(
            (a for a, keys in AREAS if any(k in where for k in keys)),
            "other (stdlib, asyncio, json, ...)",
        )
        totals[area] += tt
    whole = sum(totals.values())
    print(f"profiled own time per order: {whole / n * 1000:.2f} ms (with cProfile overhead)")
    for area, t in totals.most_common():
        print(f"  {t / whole * 100:5.1f} %  {t / n * 1000:6.2f} ms  {area}")


class StatementCounter:
    """Counts the SQL statements an engine runs while ``on`` (grouped by leading text)."""

    def __init__(self, engine: AsyncEngine, width: int = 110) -> None:
        self.seen: collections.Counter[str] = collections.Counter()
        self.on = False

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
            if self.on and not statement.startswith("BEGIN"):
                self.seen[" ".join(statement.split())[:width]] += 1

        # Counted per transaction, not per cursor: on SQLite ``store.db`` sends BEGIN
        # straight to sqlite3 (no cursor event), elsewhere SQLAlchemy sends it.
        @event.listens_for(engine.sync_engine, "begin")
        def _begin(_c: Any) -> None:
            if self.on:
                self.seen["BEGIN (one per transaction)"] += 1

    def report(self, what: str) -> None:
        print(f"SQL statements per order ({what}): {sum(self.seen.values())}")
        for stmt, k in self.seen.most_common():
            print(f"  {k:3d}  {stmt}")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    work = Path(tempfile.mkdtemp(prefix="dropline-cost-"))
    url = f"sqlite+aiosqlite:///{work}/co.db"
    upgrade(url)
    sd = asyncio.run(harness.seed(harness.Stack("embedded", "", url, "memory", 1), [], 50))

    async def go() -> None:
        c = await build(load_settings(database_url=url, background_tasks=False))
        await c.drops.sync_engine()
        items = [HoldItem(ItemKind.SKU, sd.checkout_sku, 1)]
        counter = StatementCounter(c.db)

        async def one(i: int) -> None:
            hold = await c.holds.place(sd.checkout_drop, f"b{i}", items)
            await c.checkout.start(hold.id, f"b{i}", "pm_card_visa")

        for i in range(50):
            await one(-1 - i)
        counter.on = True
        await one(-1000)
        counter.on = False
        counter.report("hold + checkout")
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            await one(i)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"sequential: {wall / n * 1000:.2f} ms wall, {cpu / n * 1000:.2f} ms CPU per order")
        if c.checkout.writer is not None:
            c.checkout.writer.stats = GroupCommitStats()  # the concurrent orders' batches
        payments = getattr(c.provider, "writer", None)  # the sandbox's batched payments
        if payments is not None:
            payments.stats = GroupCommitStats()
        counter.seen.clear()
        counter.on = True
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(i) for i in range(n, 2 * n)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        counter.on = False
        print(f"{n} concurrent: {n / wall:.0f} orders/s, {cpu / n * 1000:.2f} ms CPU per order")
        print(f"  {sum(counter.seen.values()) / n:.1f} SQL statements per order (BEGIN counted)")
        if c.checkout.writer is not None:
            st = c.checkout.writer.stats
            print(
                f"  group commit: {st.jobs} orders in {st.batches} batches "
                f"(largest {st.largest}), {st.fallbacks} batches written alone"
            )
        if payments is not None:
            st = payments.stats
            print(
                f"  sandbox payments: {st.jobs} calls in {st.batches} batches "
                f"(largest {st.largest}), {st.fallbacks} batches written alone"
            )
        prof = cProfile.Profile()
        prof.enable()
        for i in range(2 * n, 3 * n):
            await one(i)
        prof.disable()
        stats = pstats.Stats(prof)
        print_shares(stats, n)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats("dropline", 40)
        await c.close()

    asyncio.run(go())


if __name__ == "__main__":
    main()

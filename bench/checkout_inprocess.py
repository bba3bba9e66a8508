"""Checkout cost without HTTP: hold + checkout through the services, in one process.

    .venv/bin/python -P bench/checkout_inprocess.py            # inline SQLite (default)
    DROPLINE_SQLITE_THREADS=1 .venv/bin/python -P bench/checkout_inprocess.py   # aiosqlite

``-P`` is needed: without it ``bench/profile.py`` shadows the standard library's
``profile`` module and ``import cProfile`` fails.

Seeds a fresh SQLite file like ``run.py``, then times 50 sequential orders and 200
concurrent ones, and prints the top of a cProfile of 50 more (cumulative time).
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as harness

from dropline.bootstrap import build
from dropline.config import load_settings
from dropline.domain.holds import HoldItem, ItemKind
from dropline.store.db import upgrade


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="dropline-co-"))
    url = f"sqlite+aiosqlite:///{work}/co.db"
    upgrade(url)
    sd = asyncio.run(harness.seed(harness.Stack("embedded", "", url, "memory", 1), [], 50))

    async def go() -> None:
        c = await build(load_settings(database_url=url, background_tasks=False))
        await c.drops.sync_engine()
        items = [HoldItem(ItemKind.SKU, sd.checkout_sku, 1)]

        async def one(i: int) -> None:
            hold = await c.holds.place(sd.checkout_drop, f"b{i}", items)
            await c.checkout.start(hold.id, f"b{i}", "pm_card_visa")

        await one(-1)
        t0 = time.perf_counter()
        for i in range(50):
            await one(i)
        print(f"sequential: {(time.perf_counter() - t0) / 50 * 1000:.1f} ms per order")
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(100, 300)))
        print(f"200 concurrent: {200 / (time.perf_counter() - t0):.1f} orders/s")
        prof = cProfile.Profile()
        prof.enable()
        for i in range(50, 100):
            await one(i)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats("dropline|execute", 25)
        await c.close()

    asyncio.run(go())


if __name__ == "__main__":
    main()

"""CPU per hot-SKU hold through the ASGI app (no sockets), and per hold event drained.

    .venv/bin/python -P bench/hold_cost.py [N] [--profile]

Same seed as ``run.py`` (embedded: memory engine + SQLite). ``POST /v1/drops/{id}/holds``
requests, one-unit holds on the hot SKU from 5,000 buyers (one token each, as wrk sends
them), are fed straight to the app with the server's GC tuning, then the background
drain stores their events. Prints the best of three runs of ``N`` holds: process CPU
per hold request, and per hold for the drain. A server adds its own cost on top
(``run.py`` measures that, noisily on a shared machine); this is the part dropline's
code decides, steady enough to compare two versions. ``--profile`` adds a cProfile of
the requests by own time. Nothing here is a test.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from checkout_http_cost import app_in_process, call, seeded_database

from dropline.runtime import tune_gc
from dropline.services.live.hold_journal import drain_hold_events

BUYERS = 5000


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 20_000
    url, sd = seeded_database("dropline-holdcost-")

    async def go() -> None:
        c, app = await app_in_process(url)
        tune_gc(c.settings.gc_gen0)  # as a server process does after start-up
        path = f"/v1/drops/{sd.hot_drop}/holds"
        body = harness.hold_body({"sku_id": sd.hot_sku, "quantity": 1}).encode()
        headers = [
            {
                "content-type": "application/json",
                "authorization": f"Bearer {sd.storefront_key}",
                "x-buyer-token": token,
            }
            for token in harness.buyer_tokens("holdcost", BUYERS)
        ]

        async def holds(count: int) -> None:
            for i in range(count):
                status, answer = await call(app, path, headers[i % BUYERS], body)
                assert status == 201, (status, answer)

        await holds(BUYERS)  # every token verified once, as after wrk's warm-up
        await drain_hold_events(c.engine, c.uow)
        prof = cProfile.Profile() if "--profile" in sys.argv else None
        hold_us = drain_us = float("inf")
        for _ in range(3):
            c0 = time.process_time()
            if prof:
                prof.enable()
            await holds(n)
            if prof:
                prof.disable()
            c1 = time.process_time()
            await drain_hold_events(c.engine, c.uow)
            c2 = time.process_time()
            hold_us = min(hold_us, (c1 - c0) / n * 1e6)
            drain_us = min(drain_us, (c2 - c1) / n * 1e6)
        print(
            f"hold request {hold_us:.1f} µs CPU, drain {drain_us:.1f} µs CPU per hold"
            f" (best of 3 runs of {n})"
        )
        if prof:
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        await c.close()

    asyncio.run(go())


if __name__ == "__main__":
    main()

"""CPU per order through the ASGI app (no sockets): POST hold, then POST /v1/checkouts.

    .venv/bin/python -P bench/checkout_http_cost.py [N] [--key] [--buyers B]

``--key`` sends an ``Idempotency-Key`` with every checkout (the stored-response path).
``--buyers B`` also runs N orders with B buyers at once (as ``run.py``'s checkout
scenario does with 32 connections) and prints the CPU per order and how the writers
batched: the cost under load, without the HTTP server and load generator's noise.

Same seed as ``run.py`` (embedded default); requests are fed straight to the ASGI app
(no server, no client library), so the process time is the app's own cost per order.
Prints CPU ms per order and a cProfile of the checkout requests by own time and area.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from checkout_cost import StatementCounter, print_shares

from dropline.api.app import create_app
from dropline.bootstrap import Container, build
from dropline.config import load_settings
from dropline.services.platform.access import mint_buyer_token
from dropline.store.db import upgrade


async def call(app: Any, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return out["status"], out["body"]


def seeded_database(prefix: str) -> tuple[str, harness.Seeded]:
    """A fresh SQLite file seeded like ``run.py``'s embedded stack: its URL and seed."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    url = f"sqlite+aiosqlite:///{work}/bench.db"
    upgrade(url)
    return url, asyncio.run(harness.seed(harness.Stack("embedded", "", url, "memory", 1), [], 50))


async def app_in_process(url: str) -> tuple[Container, Any]:
    """The container and ASGI app a server would run on ``url`` (no background tasks),
    its engine loaded from the database."""
    settings = load_settings(
        database_url=url, buyer_token_secret=harness.SECRET, background_tasks=False
    )
    c = await build(settings)
    app = create_app(settings, container=c)
    app.state.container = c
    await c.drops.sync_engine()
    return c, app


Order = Callable[..., Awaitable[None]]


def order_maker(app: Any, sd: harness.Seeded, keyed: bool = False) -> Order:
    """``one(i, prof=None)``: buyer ``i % 64`` holds one unit of the checkout SKU and
    pays for it, through the app (``prof`` profiles the checkout request only)."""
    hold_path = f"/v1/drops/{sd.checkout_drop}/holds"
    hold_body = harness.hold_body({"sku_id": sd.checkout_sku, "quantity": 1}).encode()
    tokens = [mint_buyer_token(harness.SECRET, f"b-{i}", 3600) for i in range(64)]

    async def one(i: int, prof: cProfile.Profile | None = None) -> None:
        headers = {
            "content-type": "application/json",
            "authorization": f"Bearer {sd.storefront_key}",
            "x-buyer-token": tokens[i % len(tokens)],
        }
        status, body = await call(app, hold_path, headers, hold_body)
        assert status == 201, (status, body)
        hold_id = json.loads(body)["id"]
        payload = json.dumps({"hold_id": hold_id, "payment_method": "pm_card_visa"})
        if keyed:
            headers["idempotency-key"] = f"k-{hold_id}"
        if prof:
            prof.enable()
        status, body = await call(app, "/v1/checkouts", headers, payload.encode())
        if prof:
            prof.disable()
        assert status == 201, (status, body)

    return one


async def by_buyers(one: Order, n: int, buyers: int) -> None:
    """``n`` orders, ``buyers`` of them in flight at any time."""
    left = iter(range(n))

    async def buyer() -> None:
        for i in left:
            await one(i)

    await asyncio.gather(*(buyer() for _ in range(buyers)))


async def concurrent(c: Container, one: Order, n: int, buyers: int) -> None:
    """``n`` orders by ``buyers`` buyers at once: CPU per order and the writers' batches."""
    writers = {
        "payment starts": c.checkout.starter,
        "sandbox payments": getattr(c.checkout.provider, "writer", None),
        "orders": c.checkout.writer,
    }
    before = {k: (w.stats.batches, w.stats.jobs) for k, w in writers.items() if w}
    t0, c0 = time.perf_counter(), time.process_time()
    await by_buyers(one, n, buyers)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"HTTP (ASGI) {buyers} buyers at once: {n / wall:.0f} orders/s, "
        f"{cpu / n * 1000:.3f} ms CPU per order"
    )
    for name, w in writers.items():
        if w:
            batches = w.stats.batches - before[name][0]
            jobs = w.stats.jobs - before[name][1]
            print(f"  {name}: {jobs} in {batches} batches ({jobs / max(batches, 1):.1f} a batch)")


def main() -> None:
    argv = sys.argv[1:]
    buyers = 0
    if "--buyers" in argv:
        at = argv.index("--buyers")
        buyers = int(argv[at + 1])
        del argv[at : at + 2]
    args = [a for a in argv if a != "--key"]
    keyed = "--key" in argv
    n = int(args[0]) if args else 300
    url, sd = seeded_database("dropline-httpcost-")

    async def go() -> None:
        c, app = await app_in_process(url)
        one = order_maker(app, sd, keyed)

        for i in range(50):
            await one(i)
        counter = StatementCounter(c.db, width=60)
        counter.on = True
        await one(50)
        counter.on = False
        counter.report("hold + checkout requests")
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            await one(i)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"HTTP (ASGI) sequential{' with Idempotency-Key' if keyed else ''}: "
            f"{wall / n * 1000:.2f} ms wall, "
            f"{cpu / n * 1000:.2f} ms CPU per order"
        )
        if buyers:
            await concurrent(c, one, n, buyers)
        prof = cProfile.Profile()
        for i in range(n):
            await one(i, prof)
        stats = pstats.Stats(prof)
        print("checkout requests only:")
        print_shares(stats, n)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats("dropline|fastapi|starlette|pydantic", 40)
        await c.close()

    asyncio.run(go())


if __name__ == "__main__":
    main()

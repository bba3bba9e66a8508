"""Access windows and rate limits with thousands of buyers over two API processes
sharing PostgreSQL and Redis (one server, then the local Redis Cluster), over real HTTP.

The processes are those of ``test_multi_process.py`` (``api0``, and ``api1`` =
``serve --workers 2``); taps are spread over both ports. The windows open on the real
clock a few seconds into the test, so the buyers tap before and after each opening:
no hold may be created before its buyer's window opened (by the engine's own time,
``created_at``), no window may sell more than the allocations opened so far, and
nothing oversells. The rate limits hold across the processes: one buyer's taps on
both ports share one bucket, and so do all buyers of one address.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime
from typing import Any

import pytest

from dropline.domain.live.access import AccessWindow
from dropline.domain.live.rate_limits import RateLimits
from dropline.services.platform.buyer_tokens import DEFAULT_KID, mint_jwt
from e2e.multi_support import BUYER_SECRET
from e2e.test_multi_process import Deployment, client, deployment, shop_on, sold

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]
__all__ = ["deployment"]  # the module-scoped fixture: the processes, started for this module


def token_headers(key: str, buyer: str, tiers: list[str] | None) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "X-Buyer-Token": mint_jwt(BUYER_SECRET, DEFAULT_KID, buyer, 3600, tiers=tiers),
    }


GROUPS = {"gold": 600, "silver": 600, "public": 1200}  # 2,400 buyers


async def test_no_window_is_entered_early_and_nothing_oversells(deployment: Deployment) -> None:
    d = deployment
    async with shop_on(d, units=300) as (c, shop, key):
        sku = shop.skus[0]
        t0 = time.time() + 6  # time for the set-up below and the first taps
        starts = {"gold": t0, "silver": t0 + 4, "public": t0 + 8}
        await c.access_windows.set_windows(
            shop.drop_id,
            [
                AccessWindow(starts["gold"], ("gold",), {sku: 100}, "Gold"),
                AccessWindow(starts["silver"], ("*",), {sku: 100}, "Members"),
                AccessWindow(starts["public"], (), None, "Everyone"),
            ],
        )
        buyers = [(f"{g}{i}", g) for g, n in GROUPS.items() for i in range(n)]
        rng = random.Random(21)
        body = {"items": [{"sku_id": sku, "quantity": 1}]}
        async with client() as http:

            async def tap(n: int, buyer: str, group: str, at: float) -> tuple[str, int, Any]:
                await asyncio.sleep(max(0.0, at - time.time()))
                status, reply = await http.post(
                    f"{d.api[n % 2].url}/v1/drops/{shop.drop_id}/holds",
                    json=body,
                    headers=token_headers(key, buyer, None if group == "public" else [group]),
                )
                return group, status, reply

            # Each buyer taps once in the second before their window and once in the
            # 1.5 s after it opened.
            taps = []
            for n, (buyer, group) in enumerate(buyers):
                s = starts[group]
                taps.append(tap(n, buyer, group, s - rng.uniform(0.05, 1.0)))
                taps.append(tap(n + 1, buyer, group, s + rng.uniform(0.0, 1.5)))
            replies = await asyncio.gather(*taps)

        held = [(g, r) for g, status, r in replies if status == 201]
        codes = {r["code"] for _, status, r in replies if status != 201}
        assert codes <= {"window_closed", "window_sold_out", "sold_out"}, codes
        assert "window_closed" in codes
        # No hold was created before its buyer's window opened (engine time).
        for group, hold in held:
            assert _ts(hold["created_at"]) >= starts[group], (group, hold["created_at"])
        # The refusals said when the buyer's window opens.
        for group, status, reply in replies:
            if status == 403:
                assert reply["code"] == "window_closed"
                assert abs(_ts(reply["opens_at"]) - starts[group]) < 1e-3
        # What had opened capped what was taken: 100 before the members' window, 200
        # before the public's, and 300 in all. (How many each group won depends on
        # timing: a gold buyer's late tap may land in the members' window, and buys
        # there, as a member.)
        times = sorted(_ts(h["created_at"]) for _, h in held)
        assert sum(1 for t in times if t < starts["silver"]) <= 100
        assert sum(1 for t in times if t < starts["public"]) <= 200
        assert len(held) == 300
        assert all(g == "gold" for g, h in held if _ts(h["created_at"]) < starts["silver"])
        counts = (await c.engine.counts(shop.drop_id))[sku]
        assert (counts.remaining, counts.held) == (0, 300)
        assert (await sold(c, shop.drop_id))[sku] == 0
        stats = await c.engine.access_stats(shop.drop_id)
        assert stats["window_closed"] == sum(1 for _, s, _ in replies if s == 403)


async def test_rate_limits_hold_across_the_processes(deployment: Deployment) -> None:
    d = deployment
    async with shop_on(d, units=5000) as (c, shop, key):
        sku = shop.skus[0]
        await c.access_windows.set_limits(
            shop.drop_id, RateLimits(holds_per_buyer=3, holds_per_address=500)
        )
        body = {"items": [{"sku_id": sku, "quantity": 1}]}
        async with client() as http:

            async def tap(n: int, buyer: str) -> tuple[str, int, Any]:
                status, reply = await http.post(
                    f"{d.api[(n // 100) % 2].url}/v1/drops/{shop.drop_id}/holds",
                    json=body,
                    headers=token_headers(key, buyer, None),
                )
                return buyer, status, reply

            started = time.time()
            # 100 buyers tap 10 times each, each buyer on both ports in turn: 1,000
            # taps from one address (the test's), which allows 500 a minute.
            replies = await asyncio.gather(*(tap(n, f"b{n % 100}") for n in range(1000)))
            elapsed = time.time() - started
        won: dict[str, int] = {}
        for buyer, status, reply in replies:
            if status == 201:
                won[buyer] = won.get(buyer, 0) + 1
            else:
                assert status == 429 and reply["code"] == "rate_limited", reply
                assert reply["retry_after_s"] >= 1
        refill = int(elapsed * 500 / 60)  # tokens the address bucket regained meanwhile
        assert sum(won.values()) <= 300  # each buyer's bucket: 3, refilled by < 1 meanwhile
        assert all(n <= 3 + int(elapsed * 3 / 60) for n in won.values()), won
        assert sum(won.values()) <= 500 + refill
        # every buyer got their three (the address allowed 500 of the 1,000)
        assert len(won) == 100 and sum(won.values()) >= 300 - refill

        # Now the address: 600 new buyers tap once each, on both ports; the address
        # bucket has at most 500 - 300 (+ refill) tokens left.
        async with client() as http:
            started = time.time()
            more = await asyncio.gather(*(tap(n, f"n{n}") for n in range(600)))
            elapsed += time.time() - started
        passed = sum(1 for _, s, _ in more if s == 201)
        refill = int(elapsed * 500 / 60) + 1
        assert 200 - 1 <= passed <= 200 + refill, passed
        assert {r["code"] for _, s, r in more if s != 201} == {"rate_limited"}
        counts = (await c.engine.counts(shop.drop_id))[sku]
        assert counts.held == sum(won.values()) + passed


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

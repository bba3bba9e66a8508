"""A realistic live drop driven over HTTP against a running server, for rehearsals and
for showing the monitor working.

Viewers tap in bursts when the host pins a product; some pay, some abandon (their holds
expire), some release, some use declined cards or cards that need 3-D Secure (then
confirm), some buy the bundle. They come from several channels with UTM sources and
promo codes, so the report's conversion tables have something to show.

Safety: only loopback targets (127.0.0.1, localhost, ::1); the number of requests, the
concurrency, the number of viewers and the duration are all capped.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx

from dropline.domain.errors import InvalidInput
from dropline.domain.readiness.rehearsal import rehearsal_methods

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
WILDCARD = frozenset({"0.0.0.0", "::", "[::]", ""})
MAX_VIEWERS = 5000
MAX_DURATION_S = 3600
MAX_CONCURRENCY = 64
CHANNELS: list[tuple[str, float, str]] = [
    ("live", 0.55, "tiktok"),
    ("clip", 0.15, "youtube"),
    ("social", 0.12, "instagram"),
    ("email", 0.1, "newsletter"),
    ("ad", 0.08, "meta"),
]
PROMOS: list[tuple[str | None, float]] = [(None, 0.6), ("LIVE10", 0.3), ("CREATOR5", 0.1)]


@dataclass
class Summary:
    """What happened, counted by the simulator itself (the report counts it again)."""

    counts: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    units_paid: int = 0
    requests: int = 0
    pins: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


def default_url(host: str, port: int, public_url: str = "") -> str:
    """Where the server of these settings answers on this machine: its public URL if it
    has one, else its port on 127.0.0.1 when it binds every address (0.0.0.0, ::)."""
    if public_url:
        return public_url
    return f"http://{'127.0.0.1' if host in WILDCARD else host}:{port}"


def check_target(url: str) -> str:
    """Refuse anything but a loopback http(s) URL; returns it without a trailing /."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or (parts.hostname or "") not in LOOPBACK:
        raise InvalidInput("simulate only drives a server on this machine (127.0.0.1)")
    return url.rstrip("/")


def _pick(rng: random.Random, weighted: list[tuple[Any, float]]) -> Any:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


class Simulation:
    def __init__(
        self,
        url: str,
        api_key: str,
        buyer_tokens: str | Callable[[str], str],
        drop_id: str,
        *,
        viewers: int = 50,
        duration_s: float = 60.0,
        max_requests: int = 5000,
        concurrency: int = 32,
        seed: int | None = None,
        methods: Mapping[str, str] | None = None,
    ) -> None:
        """``methods`` are the test payment methods by role (ok, decline,
        three_d_secure; ``domain/readiness/rehearsal.rehearsal_methods``): payment method
        ids such as Stripe's ``pm_card_visa``, which the sandbox takes too."""
        if not 1 <= viewers <= MAX_VIEWERS:
            raise InvalidInput(f"viewers must be between 1 and {MAX_VIEWERS}")
        if not 0 < duration_s <= MAX_DURATION_S:
            raise InvalidInput(f"duration must be between 1 and {MAX_DURATION_S} seconds")
        if not 1 <= max_requests <= 1_000_000:
            raise InvalidInput("max_requests must be between 1 and 1,000,000")
        self.url = check_target(url)
        self.methods = rehearsal_methods(methods or {})
        self.key = api_key
        # A secret is the HS256 key ``default`` (a server with only a buyer secret set).
        from dropline.services.platform.buyer_tokens import DEFAULT_KID, mint_jwt

        self.mint = (
            partial(mint_jwt, buyer_tokens, DEFAULT_KID)
            if isinstance(buyer_tokens, str)
            else buyer_tokens
        )
        self.drop_id = drop_id
        self.viewers = viewers
        self.duration_s = duration_s
        self.max_requests = max_requests
        self.sem = asyncio.Semaphore(min(max(concurrency, 1), MAX_CONCURRENCY))
        self.rng = random.Random(seed)
        self.summary = Summary()
        self.pinned: list[str] = []
        self.pin_event = asyncio.Event()
        self.deadline = 0.0
        self.skus_by_product: dict[str, list[str]] = {}
        self.bundles: list[str] = []

    # ------------------------------------------------------------------ http
    async def _call(
        self, http: httpx.AsyncClient, method: str, path: str, buyer: str | None = None, **kw: Any
    ) -> httpx.Response | None:
        if self.summary.requests >= self.max_requests or time.monotonic() > self.deadline + 5:
            return None
        self.summary.requests += 1
        headers = {"X-Buyer-Token": self.mint(buyer)} if buyer else {}
        async with self.sem:
            try:
                return await http.request(method, path, headers=headers, **kw)
            except httpx.HTTPError:
                self.summary.counts["network_errors"] += 1
                return None

    async def load(self, http: httpx.AsyncClient) -> None:
        try:
            r = await http.get(f"/v1/drops/{self.drop_id}/public")
        except httpx.HTTPError as exc:
            raise InvalidInput(
                f"no server answers at {self.url} ({type(exc).__name__}); start it with "
                "`dropline serve`, or point --url (DROPLINE_URL) at it"
            ) from None
        if r.status_code != 200:
            raise InvalidInput(f"cannot read the drop: {r.status_code} {r.text[:200]}")
        body = r.json()
        if body["status"] != "live":
            raise InvalidInput(f"the drop is {body['status']}; make it live first")
        for p in body["products"]:
            self.skus_by_product[p["name"]] = [s["id"] for s in p["skus"]]
        self.bundles = [b["id"] for b in body["bundles"]]
        if not self.skus_by_product:
            raise InvalidInput("the drop offers nothing")

    # ------------------------------------------------------------------ actors
    async def host(self) -> None:
        """Pin a product now and then; each pin sets off a burst of taps."""
        products = list(self.skus_by_product)
        every = max(self.duration_s / 4, 1.0)
        while time.monotonic() < self.deadline:
            name = self.rng.choice(products)
            self.pinned = self.skus_by_product[name]
            self.summary.pins.append(name)
            self.pin_event.set()
            await asyncio.sleep(0.05)
            self.pin_event.clear()
            await asyncio.sleep(min(every, max(self.deadline - time.monotonic(), 0)))

    async def viewer(self, http: httpx.AsyncClient, n: int) -> None:
        buyer = f"sim-viewer-{n}"
        channel, _, source = self.rng.choices(CHANNELS, [c[1] for c in CHANNELS])[0]
        attribution = {"channel": channel, "utm_source": source, "utm_campaign": "drop-sim"}
        promo = _pick(self.rng, PROMOS)
        if promo:
            attribution["promo_code"] = promo
        while time.monotonic() < self.deadline:
            # Most viewers wait for a pin (a burst); some wander in on their own.
            if self.rng.random() < 0.7:
                try:
                    await asyncio.wait_for(self.pin_event.wait(), self.deadline - time.monotonic())
                except TimeoutError:
                    return
                await asyncio.sleep(self.rng.uniform(0, 1.5))
            else:
                await asyncio.sleep(self.rng.expovariate(1 / max(self.duration_s / 3, 0.5)))
            if time.monotonic() >= self.deadline:
                return
            await self.tap(http, buyer, attribution)
            if self.rng.random() < 0.5:
                return  # most people buy once and leave

    async def tap(self, http: httpx.AsyncClient, buyer: str, attribution: dict[str, str]) -> None:
        if self.bundles and self.rng.random() < 0.1:
            items = [{"bundle_id": self.rng.choice(self.bundles), "quantity": 1}]
        else:
            pool = self.pinned or self.rng.choice(list(self.skus_by_product.values()))
            items = [{"sku_id": self.rng.choice(pool), "quantity": self.rng.choice([1, 1, 1, 2])}]
        r = await self._call(
            http,
            "POST",
            f"/v1/drops/{self.drop_id}/holds",
            buyer,
            json={"items": items, "attribution": attribution},
        )
        if r is None:
            return
        if r.status_code != 201:
            self.summary.counts["holds_refused"] += 1
            self.summary.refusals[_code(r)] += 1
            return
        self.summary.counts["holds_placed"] += 1
        self.summary.channels[attribution["channel"]] += 1
        hold = r.json()
        fate = self.rng.random()
        if fate < 0.15:
            self.summary.counts["abandoned"] += 1  # the hold will expire by itself
            return
        if fate < 0.22:
            await self._call(http, "POST", f"/v1/holds/{hold['id']}/release", buyer)
            self.summary.counts["released"] += 1
            return
        await asyncio.sleep(self.rng.uniform(0.2, 1.5))  # typing the card
        units = sum(hold.get("units", {}).values())
        if fate < 0.32:
            r = await self._pay(http, buyer, hold["id"], self.methods["decline"])
            self.summary.counts["declined"] += 1
            if r is None or self.rng.random() < 0.5:
                return  # gives up; the hold expires
        if fate >= 0.32 and fate < 0.42:
            r = await self._pay(http, buyer, hold["id"], self.methods["three_d_secure"])
            if r is not None and r.status_code in (200, 201, 202):
                body = r.json()
                if body.get("status") == "requires_action":
                    self.summary.counts["three_d_secure"] += 1
                    await asyncio.sleep(self.rng.uniform(0.2, 1.0))
                    c = await self._call(http, "POST", f"/v1/checkouts/{body['id']}/confirm", buyer)
                    if c is not None and c.status_code in (200, 201):
                        self.summary.counts["paid"] += 1
                        self.summary.units_paid += units
                    else:
                        self.summary.counts["payment_errors"] += 1
                    return
            return
        r = await self._pay(http, buyer, hold["id"], self.methods["ok"])
        if r is not None and r.status_code in (200, 201):
            self.summary.counts["paid"] += 1
            self.summary.units_paid += units
        elif r is not None:
            self.summary.counts["payment_errors"] += 1
            self.summary.refusals[_code(r)] += 1

    async def _pay(
        self, http: httpx.AsyncClient, buyer: str, hold_id: str, method: str
    ) -> httpx.Response | None:
        return await self._call(
            http,
            "POST",
            "/v1/checkouts",
            buyer,
            json={"hold_id": hold_id, "payment_method": method},
        )

    # ------------------------------------------------------------------ run
    async def run(self, on_tick: Callable[[Summary, float], None] | None = None) -> Summary:
        """Run for the duration (or until the request budget is spent)."""
        started = time.monotonic()
        self.deadline = started + self.duration_s
        async with httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=15.0,
            limits=httpx.Limits(max_connections=MAX_CONCURRENCY),
        ) as http:
            await self.load(http)
            tasks = [asyncio.create_task(self.host())]
            tasks += [asyncio.create_task(self.viewer(http, n)) for n in range(self.viewers)]
            done = asyncio.gather(*tasks)
            while not done.done():
                if on_tick:
                    on_tick(self.summary, time.monotonic() - started)
                await asyncio.wait({done}, timeout=0.25)
            await done
        self.summary.elapsed_s = time.monotonic() - started
        if on_tick:
            on_tick(self.summary, self.summary.elapsed_s)
        return self.summary


def _code(r: httpx.Response) -> str:
    try:
        return str(r.json().get("code", r.status_code))
    except ValueError:
        return str(r.status_code)

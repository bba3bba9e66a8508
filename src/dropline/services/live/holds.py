"""Hold use cases: the hot path of a live drop.

Placing a hold reads only the drop catalog cache and the engine: no database access,
so a burst of taps is limited by the engine alone. When the engine has lost a drop
(restart, Redis flushed) it is rebuilt from the ledger and the request retried once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from time import perf_counter

from dropline.domain.catalog.items import expand_items
from dropline.domain.errors import (
    DroplineError,
    DropNotLive,
    HoldNotOwned,
    InvalidInput,
    NotFound,
    PreorderClosed,
    SoldOut,
)
from dropline.domain.live.access import ACCESS_CODES
from dropline.domain.live.drops import ENGINE_STATES
from dropline.domain.live.holds import Hold, HoldItem, HoldRequest, validate_quantities
from dropline.services.insight.refused_taps import RefusedTaps
from dropline.services.live.drop_catalog import DropCatalog, DropCatalogCache
from dropline.services.live.drops import DropService
from dropline.services.platform.metrics import metrics
from dropline.services.ports import Clock, DropNotLoaded, StockEngine

ATTRIBUTION_KEYS = frozenset(
    {
        "channel",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "promo_code",
        "affiliate",
        "creator",
    }
)
CHANNELS = frozenset({"live", "clip", "email", "social", "ad", "pop-up"})


def clean_attribution(raw: Mapping[str, str] | None) -> dict[str, str]:
    """Known attribution keys only, short strings, and a known channel."""
    out: dict[str, str] = {}
    for k, v in (raw or {}).items():
        if k not in ATTRIBUTION_KEYS:
            raise InvalidInput(f"unknown attribution key {k!r}", field=k)
        if not isinstance(v, str) or len(v) > 120:
            raise InvalidInput(f"attribution {k} must be a string of at most 120 characters")
        out[k] = v
    if "channel" in out and out["channel"] not in CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(sorted(CHANNELS))}")
    return out


def fingerprint(items: Sequence[HoldItem]) -> str:
    body = "|".join(f"{i.kind}:{i.ref}:{i.quantity}" for i in sorted(items, key=lambda i: i.ref))
    return hashlib.sha256(body.encode()).hexdigest()[:32]


class HoldService:
    def __init__(
        self,
        engine: StockEngine,
        cache: DropCatalogCache,
        drops: DropService,
        clock: Clock,
        refused: RefusedTaps | None = None,
    ) -> None:
        self.engine = engine
        # holds refused as sold out, per SKU and buyer: the lessons' unserved demand
        self.refused = refused
        self.cache = cache
        self.drops = drops
        self.clock = clock
        # in-process sums, flushed to the shared instruments (services/platform/metrics)
        m = metrics()
        self._placed = m.tally(m.holds_placed)
        self._refused = m.tallies(m.holds_refused.labels)
        # access refusals also under the access rules' own counter
        self._access_refused = m.tallies(lambda code: m.access_refused.labels("hold", code))
        self._seconds = m.timings(m.hold_seconds)
        self._engine_seconds = m.timings(m.engine_seconds.labels("place_hold"))

    async def place(
        self,
        drop_id: str,
        buyer_id: str,
        items: Sequence[HoldItem],
        *,
        idempotency_key: str | None = None,
        attribution: Mapping[str, str] | None = None,
        tiers: frozenset[str] = frozenset(),
        client: str = "",
        issued_at: float | None = None,
    ) -> Hold:
        """Take every unit of ``items`` for the drop's hold TTL, or none of them.
        ``tiers`` and ``issued_at`` come from the buyer token and ``client`` is the
        caller's address: the engine checks the drop's access windows, token max age
        and rate limits against them. Counted in the metrics: placed, or refused by the
        refusal's problem code."""
        t0 = perf_counter()
        try:
            hold = await self._place(
                drop_id,
                buyer_id,
                items,
                idempotency_key=idempotency_key,
                attribution=attribution,
                access=(tiers, client, issued_at),
            )
        except DroplineError as exc:
            self._refused[exc.code].inc()
            if exc.code in ACCESS_CODES:
                self._access_refused[exc.code].inc()
            self._seconds.observe(perf_counter() - t0)
            raise
        self._placed.inc()
        self._seconds.observe(perf_counter() - t0)
        return hold

    async def _engine_place(self, request: HoldRequest) -> Hold:
        t0 = perf_counter()
        try:
            return await self.engine.place_hold(request, self.clock.now())
        finally:
            self._engine_seconds.observe(perf_counter() - t0)

    async def _place(
        self,
        drop_id: str,
        buyer_id: str,
        items: Sequence[HoldItem],
        *,
        idempotency_key: str | None = None,
        attribution: Mapping[str, str] | None = None,
        access: tuple[frozenset[str], str, float | None] = (frozenset(), "", None),
    ) -> Hold:
        validate_quantities(items)
        catalog = await self.cache.get(drop_id)
        if catalog.drop.status not in ENGINE_STATES:
            raise DropNotLive(f"the drop is {catalog.drop.status}", status=catalog.drop.status)
        for it in items:
            if it.kind == "sku" and it.ref not in catalog.offers:
                raise NotFound(f"SKU {it.ref} is not offered in this drop", sku_id=it.ref)
        request = HoldRequest(
            drop_id=drop_id,
            buyer_id=buyer_id,
            items=tuple(items),
            units=expand_items(items, catalog.bundles),
            ttl_s=catalog.drop.hold_ttl_s,
            idempotency_key=idempotency_key,
            # Only an idempotent replay compares fingerprints: no key, no hashing.
            fingerprint=fingerprint(items) if idempotency_key is not None else "",
            attribution=clean_attribution(attribution),
            tiers=access[0],
            client=access[1],
            issued_at=access[2],
        )
        self._check_preorders(catalog, request.units)
        try:
            try:
                return await self._engine_place(request)
            except DropNotLoaded:
                await self.drops.rebuild(drop_id)
                return await self._engine_place(request)
        except SoldOut as exc:
            sku = str(exc.extra.get("sku_id", ""))
            if self.refused is not None and sku:
                self.refused.note(drop_id, sku, buyer_id, request.units.get(sku, 1))
            raise

    def _check_preorders(self, catalog: DropCatalog, units: Mapping[str, int]) -> None:
        """Pre-order units: only while the window is open, and of one run per hold (an
        order waits for one production run)."""
        pre = [s for s in units if s in catalog.preorders]
        if not pre:
            return
        now = self.clock.now()
        for s in pre:
            if catalog.preorders[s].closes_at.timestamp() <= now:
                raise PreorderClosed("the pre-order window for this SKU has closed", sku_id=s)
        if len({catalog.preorders[s].run_id for s in pre}) > 1:
            raise InvalidInput("one hold may hold pre-orders of one production run only")

    async def get(self, hold_id: str, buyer_id: str | None = None) -> Hold:
        hold = await self.engine.get_hold(hold_id)
        if hold is None:
            raise NotFound(f"hold {hold_id} not found (it may have expired long ago)")
        if buyer_id is not None and hold.buyer_id != buyer_id:
            raise HoldNotOwned("this hold belongs to another buyer")
        return hold

    async def release(self, hold_id: str, buyer_id: str | None) -> Hold:
        await self.get(hold_id, buyer_id)
        return await self.engine.release(hold_id, self.clock.now())

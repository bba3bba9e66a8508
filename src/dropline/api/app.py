"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import Receive, Scope, Send

from dropline.api import errors, openapi
from dropline.api.deps import storable_text
from dropline.api.hotpath import HOLD_ROUTES, HotPathMiddleware
from dropline.api.limits import RequestLimits
from dropline.api.request_ids import RequestIdMiddleware
from dropline.api.routers.aftersales import problems as problem_routes
from dropline.api.routers.aftersales import returns as return_routes
from dropline.api.routers.catalog import products as catalog
from dropline.api.routers.fulfilment import shipping as fulfilment
from dropline.api.routers.fulfilment import webhooks
from dropline.api.routers.insight import funnel as funnel_routes
from dropline.api.routers.insight import lessons as lesson_routes
from dropline.api.routers.insight import monitor as monitor_router
from dropline.api.routers.live import access, checkouts, drops, holds, orders, waitlist
from dropline.api.routers.live import payment_webhooks as webhooks_in
from dropline.api.routers.planning import launches as launch_routes
from dropline.api.routers.platform import audit as audit_routes
from dropline.api.routers.platform import health, keys
from dropline.api.routers.platform import metrics as metrics_routes
from dropline.api.routers.readiness import gate as gate_routes
from dropline.api.routers.readiness import rehearsals as rehearsal_routes
from dropline.api.routers.stock import bins as bin_routes
from dropline.api.routers.stock import counts as count_routes
from dropline.api.routers.stock import levels as stock
from dropline.api.routers.supply import preorders as preorder_routes
from dropline.api.routers.supply import production as production_routes
from dropline.api.routers.supply import qc as qc_routes
from dropline.api.routers.supply import quality as quality_routes
from dropline.api.routers.supply import scorecards as scorecard_routes
from dropline.bootstrap import Container, build
from dropline.config import Settings, check_safe, load_settings
from dropline.runtime import tune_gc
from dropline.services.platform.background import run_forever
from dropline.services.platform.metrics import flush_every
from dropline.store.db import SchemaNotCurrent, check_schema
from dropline.web import site as web_pages

log = logging.getLogger(__name__)

DESCRIPTION = """
dropline runs a creator's live drop: catalog, stock, holds that expire, checkout, orders.

**Auth.** Calls need `Authorization: Bearer <api key>` (security scheme `ApiKey`; each
operation's `security` names the least scope it needs). Scopes: `admin` ⊇ `ops` ⊇
`storefront`; a storefront key reads the public drop view, places holds and checks out.
Health checks, signed webhooks and buyers' pre-order links need no key.

**Buyers.** Hold and checkout calls also need `X-Buyer-Token` (scheme `BuyerToken`): a
JWT signed by the creator's site, `{"sub": buyer_id, "exp": unix_seconds}` (plus
`iss`/`aud` when the deployment requires them) with a `kid` header naming the key: HS256
with a secret shared through `DROPLINE_BUYER_TOKEN_KEYS` (kid -> secret), or EdDSA/RS256
with a key from the site's JWKS (`DROPLINE_BUYER_TOKEN_JWKS_URL`). The older
`v1.payload.signature` tokens are still accepted while `DROPLINE_BUYER_TOKEN_V1` is true
(deprecated). See `docs/buyer-tokens.md`; for testing: `dropline buyer-token BUYER_ID`.

**Errors** are RFC 9457 `application/problem+json` with a stable `code`
(`sold_out`, `limit_exceeded`, `hold_expired`, `validation_error`, ...); every status an
operation can answer is listed under it. Integers are JSON integers (`5.0`, `true` and
`"5"` are refused); times are RFC 3339 with a zone.
**Money** is integer minor units plus an ISO 4217 currency. **Times** are RFC 3339 UTC.
"""


class DroplineAPI(FastAPI):
    """FastAPI with the ASGI hot path (``api/hotpath.py``) in front of its whole stack.

    Installed as a middleware, the hot path ran inside five layers (FastAPI's and
    Starlette's entry points, the server-error, telemetry and body-limit middlewares)
    that cost about 5 µs per request and did nothing for it: the hot path
    answers its own errors, a 500 included, and limits its bodies. Every other request,
    and every request the hot path hands back, goes through FastAPI unchanged."""

    hot: HotPathMiddleware | None = None
    limited: RequestLimits | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # outermost: every request gets its id (api/request_ids.py)
        self.with_request_id = RequestIdMiddleware(self._routed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.with_request_id(scope, receive, send)
        else:
            await self.without_hot_path(scope, receive, send)

    async def _routed(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot is not None:
            await self.hot(scope, receive, send)
        else:
            await self.without_hot_path(scope, receive, send)

    async def without_hot_path(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every request but the hot path's: the body limits (``api/limits.py``), then
        FastAPI."""
        if self.limited is not None:
            await self.limited(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def fastapi_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The FastAPI application itself, behind the limits."""
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    """An app for ``settings`` (or the environment). A given ``container`` is used as is
    and not closed by the app (tests own it)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if container is None:  # a server process: never serve a deployment unsafely
            check_safe(settings or load_settings())
        c = container or await build(settings or load_settings())
        if container is None:  # a server process: refuse an unmigrated database plainly
            try:
                await check_schema(c.db)
            except SchemaNotCurrent:
                await c.close()
                raise
        app.state.container = c
        await c.drops.sync_engine()
        if container is None:  # a server process; tests own their container and process
            tune_gc(c.settings.gc_gen0)
        stop = asyncio.Event()
        # Every process: hear other processes' key changes, write keys' last use.
        watch = asyncio.create_task(c.access.watch())
        tasks = [asyncio.create_task(run_forever(c.process_jobs, stop))]
        if c.settings.background_tasks:
            tasks.append(asyncio.create_task(run_forever(c.jobs, stop)))
        tasks.append(asyncio.create_task(flush_every(stop)))  # the hot path's metric sums
        try:
            yield
        finally:
            stop.set()
            watch.cancel()
            for task in tasks:
                await task
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            try:
                await c.access.flush_usage()
            except Exception:
                log.exception("could not write the API keys' last use on shutdown")
            if container is None:
                await c.close()

    effective = settings or (container.settings if container else None) or load_settings()
    app = DroplineAPI(
        title="dropline",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served offline by web/docs.py, with the pages' security headers
        redoc_url=None,
        telemetry={"tracing": effective.otel, "metrics": effective.otel, "logs": effective.otel},
        max_body_size=effective.max_body_bytes,
        dependencies=[Depends(storable_text)],  # path, query and form text (api/deps.py)
        # A body without a Content-Type is read as JSON, as the hot path reads it
        # (FastAPI's default refused it with a 422 the hot path never gave).
        strict_content_type=False,
    )
    app.limited = RequestLimits(
        app.fastapi_app,
        lambda: (effective.max_body_bytes, effective.max_json_depth, effective.max_json_items),
    )
    errors.install(app)
    for module in (
        health,
        catalog,
        stock,
        drops,
        access,
        holds,
        checkouts,
        orders,
        keys,
        webhooks_in,
        audit_routes,
    ):
        app.include_router(module.router)
    if effective.metrics:
        app.include_router(metrics_routes.router)
    app.include_router(monitor_router.router)
    web_pages.install(app)
    for module in (
        production_routes,
        qc_routes,
        quality_routes,
        scorecard_routes,
        preorder_routes,
        webhooks,
        fulfilment,
        return_routes,
        problem_routes,
        bin_routes,
        count_routes,
        gate_routes,
        rehearsal_routes,
        launch_routes,
        lesson_routes,
        funnel_routes,
        waitlist,
    ):
        app.include_router(module.router)
    openapi.install(app)
    hot_routes = [*HOLD_ROUTES, *checkouts.HOT_ROUTES]
    if effective.bench_endpoints:
        from dropline.api.routers.platform import bench

        app.include_router(bench.router)
        hot_routes += bench.HOT_ROUTES
    if effective.hot_path:
        app.hot = HotPathMiddleware(
            app.without_hot_path,
            routes=hot_routes,
            container=lambda: app.state.container,
            max_body=effective.max_body_bytes,
        )
    return app

"""Two clients on one container: one through the FastAPI routes (the hot path off), one
through the ASGI hot path stacked as the app stacks it, with a spy that tells whether a
request went past the hot path. The hot-path tests compare their answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from dropline.api.app import DroplineAPI, create_app
from dropline.api.hotpath import MAX_BODY, HotPathMiddleware, HotRoute
from dropline.api.request_ids import RequestIdMiddleware
from dropline.bootstrap import Container


@dataclass
class Spy:
    """An ASGI app that counts the HTTP requests reaching the wrapped app."""

    app: ASGIApp
    calls: list[str] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.calls.append(scope["path"])
        await self.app(scope, receive, send)


@asynccontextmanager
async def route_and_hot_path(
    container: Container, routes: Sequence[HotRoute], **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, Spy]]:
    """(the route's client, the hot path's client, the spy), inside the app's lifespan;
    ``settings`` change the container's (``max_body_bytes`` reaches the hot path too)."""
    changed = container.settings.model_copy(update={"hot_path": False, **settings})
    app = create_app(settings=changed, container=container)
    assert isinstance(app, DroplineAPI)
    # as the app stacks them when its hot path is on: the request id layer, the hot
    # path, and behind it what the app runs without one (the body limits, FastAPI)
    spy = Spy(app.without_hot_path)
    max_body = settings.get("max_body_bytes", MAX_BODY)
    hot = RequestIdMiddleware(HotPathMiddleware(spy, routes, lambda: container, max_body))
    async with app.router.lifespan_context(app):
        base = "http://dropline.test"
        async with (
            httpx.AsyncClient(
                # an unexpected error is answered with a 500 and re-raised, as Starlette does
                transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                base_url=base,
            ) as slow,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=hot), base_url=base) as fast,
        ):
            yield slow, fast, spy

"""The hot path of a live drop, answered straight from ASGI.

A drop's first seconds are nothing but ``POST /v1/drops/{id}/holds``, and then
``POST /v1/checkouts`` for the buyers who got a unit. Through FastAPI, four fifths of a
hold request was framework machinery (middleware, matching ~150 routes, dependency
resolution, response-model validation; profile in ``bench/notes.md``) and the hold
itself the small rest. ``HotPathMiddleware`` sits in front of the whole FastAPI
application (``api/app.DroplineAPI``) and answers the few requests registered with it
itself (``HOLD_ROUTES`` here, ``routers/live/checkouts.HOT_ROUTES``), with the same
checks in the same order as the FastAPI route: API key, buyer token, the same Pydantic
body model, the same service call, the same response body, and problem+json errors
from ``api/errors.py``.

It only answers what it fully understands. A body that is not JSON or does not validate,
an unexpected content type, a query string, a body over the app's size limit, an
over-long ``Idempotency-Key``: the request goes on to FastAPI with its body replayed,
and the route gives the same answer it always gave. So the contract and its OpenAPI
description keep one definition, the FastAPI route, and ``tests/integration/
test_hotpath.py`` and ``test_hotpath_checkout.py`` check both paths answer byte for byte
alike. Turn it off with ``DROPLINE_HOT_PATH=false``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dropline.api import schemas as s
from dropline.api.deps import act_as, bearer
from dropline.api.errors import PROBLEM, domain_problem, internal_problem, problem_headers
from dropline.bootstrap import Container
from dropline.domain.errors import DroplineError
from dropline.domain.inputs import text_problem
from dropline.domain.live.holds import HoldItem
from dropline.services.platform.access import Principal
from dropline.services.platform.buyer_tokens import BuyerIdentity
from dropline.services.serialize import hold_dict

log = logging.getLogger(__name__)

JSON = b"application/json"
MAX_BODY = 64 * 1024
IDEMPOTENCY_KEY_MAX = 200  # as ``deps.IdempotencyKey``


class Fallback(Exception):
    """Raised by a handler that will not answer this request: FastAPI answers it."""


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3x
class HotRequest:
    """What a handler gets: the path parameter (``""`` when the route has none), the
    request headers by lower-case name (first occurrence, latin-1 as Starlette), the raw
    body and the app's container."""

    path: str
    param: str
    headers: dict[str, str]
    body: bytes
    container: Container
    #: the caller's address, as ``deps.client_address`` reads it ("" when unknown)
    client: str = ""


@dataclass(frozen=True, slots=True)
class HotResponse:
    """An answer; ``headers`` are sent before ``content-length`` and ``content-type``,
    where a Starlette response puts the headers it is given."""

    status: int
    body: bytes
    media_type: bytes = JSON
    headers: tuple[tuple[bytes, bytes], ...] = ()


def from_response(resp: Response) -> HotResponse:
    """A Starlette response (what a route shared with FastAPI returns) as a hot answer,
    with the same status, body and headers in the same order."""
    media, extra = JSON, []
    for name, value in resp.raw_headers:
        if name == b"content-type":
            media = value
        elif name != b"content-length":
            extra.append((name, value))
    return HotResponse(resp.status_code, bytes(resp.body), media, tuple(extra))


Handler = Callable[[HotRequest], Awaitable[HotResponse]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    """``template`` is a path with at most one ``{}`` parameter (one path segment)."""

    method: str
    template: str
    handler: Handler
    _parts: tuple[str, bool, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prefix, brace, suffix = self.template.partition("{}")
        object.__setattr__(self, "_parts", (prefix, bool(brace), suffix))

    def match(self, path: str) -> str | None:
        prefix, param_in_path, suffix = self._parts
        if not param_in_path:
            return "" if path == prefix else None
        if not (path.startswith(prefix) and path.endswith(suffix)):
            return None
        param = path[len(prefix) : len(path) - len(suffix)]
        return param if param and "/" not in param else None


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope["headers"]:
        name = k.decode("latin-1")
        if name not in out:
            out[name] = v.decode("latin-1")
    return out


def _json_content(headers: dict[str, str]) -> bool:
    """FastAPI parses a body as JSON when the content type is absent or JSON; anything
    else (forms, text) is left to it."""
    ctype = headers.get("content-type")
    if ctype is None:
        return True
    main = ctype.partition(";")[0].strip().lower()
    return main == "application/json" or (
        main.startswith("application/") and main.endswith("+json")
    )


class HotPathMiddleware:
    """Pure ASGI middleware answering ``routes`` itself (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        routes: Sequence[HotRoute],
        container: Callable[[], Container],
        max_body: int = MAX_BODY,
    ):
        """``max_body``: the largest body answered here, at most ``MAX_BODY``; give the
        app's own limit (``Settings.max_body_bytes``) when it is lower, so a body FastAPI
        refuses as too large (``api/limits.py``) is left to it."""
        self.app = app
        self.routes = tuple(routes)
        self._container = container
        self._resolved: Container | None = None
        self.max_body = min(max_body, MAX_BODY)

    def container(self) -> Container:
        """The app's container, looked up once (after start-up) and then kept."""
        if self._resolved is None:
            self._resolved = self._container()
        return self._resolved

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        for route in self.routes:
            if route.method != method:
                continue
            param = route.match(path)
            if param is not None:
                await self._answer(route, param, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _answer(
        self, route: HotRoute, param: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = _headers(scope)
        path = scope["path"]
        try:
            # a query string is left to FastAPI, which checks its text (deps.storable_text)
            if size > self.max_body or scope.get("query_string") or not _json_content(headers):
                raise Fallback
            client = scope.get("client")
            request = HotRequest(
                path, param, headers, body, self.container(), client[0] if client else ""
            )
            resp = await route.handler(request)
        except Fallback:
            await self.app(scope, _replay(body, receive), send)
            return
        except DroplineError as exc:
            resp = refusal(exc, path)
        except Exception:
            log.exception("unhandled error on %s", path)
            resp = HotResponse(500, orjson.dumps(internal_problem(path)), PROBLEM.encode())
        await send(
            {
                "type": "http.response.start",
                "status": resp.status,
                "headers": [
                    *resp.headers,
                    (b"content-length", str(len(resp.body)).encode()),
                    (b"content-type", resp.media_type),
                ],
            }
        )
        await send({"type": "http.response.body", "body": resp.body})


#: Rendered refusals by (error class, detail, path, extras); bounded, cleared when full.
_REFUSALS: dict[tuple[Any, ...], HotResponse] = {}
REFUSALS_MAX = 4096


def refusal(exc: DroplineError, path: str) -> HotResponse:
    """The problem+json answer to a domain error, rendered once per distinct error.

    After a sell-out every tap of the storm gets the same ``409 sold_out`` for the same
    SKU on the same path; rendering it (problem members, JSON, headers) was a tenth of
    a refusal's cost. An error whose extras cannot be hashed is rendered every time."""
    key = (type(exc), exc.detail, path, *sorted(exc.extra.items()))
    try:
        hit = _REFUSALS.get(key)
    except TypeError:  # an unhashable extra
        return _render(exc, path)
    if hit is None:
        if len(_REFUSALS) >= REFUSALS_MAX:
            _REFUSALS.clear()
        hit = _REFUSALS[key] = _render(exc, path)
    return hit


def _render(exc: DroplineError, path: str) -> HotResponse:
    status, problem = domain_problem(exc, path)
    extra = problem_headers(status, exc) or {}
    return HotResponse(
        status,
        orjson.dumps(problem),
        PROBLEM.encode(),
        tuple((k.lower().encode(), v.encode()) for k, v in extra.items()),
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body over once, then defers to the
    server (for ``http.disconnect``)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def parse_hold(body: bytes) -> s.HoldIn:
    """The hold body through the route's own model, or ``Fallback``."""
    try:
        return s.HoldIn.model_validate_json(body)
    except ValidationError:
        raise Fallback from None


async def storefront_caller(req: HotRequest) -> tuple[Principal, BuyerIdentity]:
    """The key and buyer of a storefront call, checked in the routes' dependency order:
    the API key (``deps.Storefront``, which also names an operator's key as the actor
    of the changes), then the buyer token (``deps.BuyerWho``)."""
    access = req.container.access
    principal = await access.authenticate(bearer(req.headers.get("authorization")))
    principal.require("storefront")
    act_as(principal)
    return principal, await access.identity(req.headers.get("x-buyer-token"))


async def storefront_buyer(req: HotRequest) -> BuyerIdentity:
    """The buyer of a storefront call (``storefront_caller``)."""
    return (await storefront_caller(req))[1]


#: Hold bodies already parsed, by their bytes: in a flash sale most taps send the very
#: same body, and parsing it (model validation, domain items) was a sixth of a refusal.
#: Only valid bodies are kept, only small ones, at most ``HOLD_BODIES_MAX`` of them:
#: enough for one body per SKU of a 10,000-SKU drop (at 1,024 such a drop's taps
#: emptied the table every 1,024 new bodies and parsed nearly every request), at most
#: ~16 MiB of bodies even if each were 1 KiB.
_HOLD_BODIES: dict[bytes, tuple[tuple[HoldItem, ...], Mapping[str, str]]] = {}
HOLD_BODIES_MAX = 16_384
HOLD_BODY_CACHED_MAX = 1024  # bytes


def hold_input(body: bytes) -> tuple[tuple[HoldItem, ...], Mapping[str, str]]:
    """The items and attribution of a hold body (``Fallback`` if it does not validate),
    parsed once per distinct body. Both are immutable, so requests can share them."""
    hit = _HOLD_BODIES.get(body)
    if hit is None:
        hold_in = parse_hold(body)
        hit = (tuple(hold_in.hold_items()), MappingProxyType(dict(hold_in.attribution)))
        if len(body) <= HOLD_BODY_CACHED_MAX:
            if len(_HOLD_BODIES) >= HOLD_BODIES_MAX:
                _HOLD_BODIES.clear()
            _HOLD_BODIES[body] = hit
    return hit


async def place_hold(req: HotRequest) -> HotResponse:
    """``POST /v1/drops/{drop_id}/holds`` as ``routers/holds.place_hold`` answers it."""
    if text_problem(req.param):  # a NUL in the drop id: refused by api/deps.storable_text
        raise Fallback
    items, attribution = hold_input(req.body)
    key = req.headers.get("idempotency-key")
    if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
        raise Fallback
    c = req.container
    _, who = await storefront_caller(req)  # not storefront_buyer: one coroutine less
    hold = await c.holds.place(
        req.param,
        who.buyer_id,
        items,
        idempotency_key=key,
        attribution=attribution,
        tiers=who.tiers,
        client=req.client,
        issued_at=who.issued_at,
    )
    return HotResponse(201, orjson.dumps(hold_dict(hold)))


HOLD_ROUTES = (HotRoute("POST", "/v1/drops/{}/holds", place_hold),)

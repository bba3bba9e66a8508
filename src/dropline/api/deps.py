"""Request dependencies: the container, the caller's key, the buyer, and the check that
a request's path, query and form text can be stored.

The key and the buyer token are read by two security schemes (``ApiKeyAuth``,
``BuyerTokenAuth``) rather than as plain header parameters, so the OpenAPI document
declares them as ``securitySchemes`` and each operation's ``security`` says which it
needs, with the key's least scope (``api/openapi.py`` reads them back from the route)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Security, params
from fastapi.openapi.models import APIKey, APIKeyIn, HTTPBearer
from fastapi.security.base import SecurityBase

from dropline.bootstrap import Container
from dropline.domain.inputs import check_text
from dropline.domain.platform.api_keys import SCOPES
from dropline.services.context import Actor, actor
from dropline.services.platform.access import Principal
from dropline.services.platform.buyer_tokens import BuyerIdentity

# Dependencies that do no I/O are ``async def`` on purpose: FastAPI runs a plain ``def``
# dependency in the thread pool, a thread hop per request on the hot path.


async def container(request: Request) -> Container:
    c: Container = request.app.state.container
    return c


ContainerDep = Annotated[Container, Depends(container)]


async def storable_text(request: Request) -> None:
    """Refuse (``InvalidInput``, a 422 naming the parameter) a path parameter, query
    parameter or form field holding text the database cannot store: a NUL (``%00``)
    passes ``str`` validation and was a 500 on PostgreSQL (``domain/inputs.py``).

    Installed on the whole app (``api/app.py``), so it runs before every route's own
    dependencies. JSON bodies are checked by their models (``api/strict.py``). The form
    is only looked at when the route takes one, as FastAPI has then parsed it already:
    reading it here for another route would consume a body that route reads itself."""
    for name, value in request.path_params.items():
        check_text(value, f"path.{name}")
    for name, value in request.query_params.multi_items():
        check_text((name, value), f"query.{name}")
    route = request.scope.get("route")
    body = getattr(route, "body_field", None)
    if body is not None and isinstance(body.field_info, params.Form):
        for name, value in (await request.form()).multi_items():
            if isinstance(value, str):
                check_text((name, value), f"form.{name}")


def bearer(authorization: str | None) -> str | None:
    """The key of ``Authorization: Bearer <key>``, else None (the hot path uses it too)."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


API_KEY_SCHEME = "ApiKey"
BUYER_TOKEN_SCHEME = "BuyerToken"


class ApiKeyAuth(SecurityBase):
    """``Authorization: Bearer <api key>`` of at least scope ``needed``; as a dependency
    it gives the raw key (None when absent or not a bearer credential), checked by
    ``scope``. One instance per scope, so the OpenAPI document can name the scope."""

    def __init__(self, needed: str) -> None:
        self.needed = needed
        self.scheme_name = API_KEY_SCHEME
        self.model = HTTPBearer(
            bearerFormat="dlk_...",
            description="An API key (`dlk_...`). Scopes: "
            + " ⊆ ".join(SCOPES)
            + "; an operation's security requirement names the least scope it needs.",
        )

    async def __call__(self, request: Request) -> str | None:
        return bearer(request.headers.get("authorization"))


class BuyerTokenAuth(SecurityBase):
    """The signed buyer token of ``X-Buyer-Token`` (None when absent); ``required`` says
    whether the operation refuses a call without one."""

    def __init__(self, *, required: bool) -> None:
        self.required = required
        self.scheme_name = BUYER_TOKEN_SCHEME
        self.model = APIKey(
            **{"in": APIKeyIn.header},
            name="X-Buyer-Token",
            description="Signed buyer token minted by the creator's site (see the API "
            "description); it names the buyer for per-buyer limits and ownership.",
        )

    async def __call__(self, request: Request) -> str | None:
        return request.headers.get("x-buyer-token")


def scope(needed: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency requiring an API key of at least scope ``needed``."""

    # The scheme is the default, not in ``Annotated``: string annotations are resolved
    # in the module's namespace, where ``needed`` does not exist.
    async def dep(c: ContainerDep, key: str | None = Security(ApiKeyAuth(needed))) -> Principal:
        principal = await c.access.authenticate(key)
        principal.require(needed)
        act_as(principal)
        return principal

    return dep


def act_as(principal: Principal) -> None:
    """Name an operator's key (scope ``ops`` or more) as the actor of this request's
    changes: they are audited (``store/uow.py``). Storefront calls are not."""
    if principal.allows("ops"):
        actor.set(Actor("key", principal.key_id, principal.name))


Storefront = Annotated[Principal, Depends(scope("storefront"))]
Ops = Annotated[Principal, Depends(scope("ops"))]
Admin = Annotated[Principal, Depends(scope("admin"))]


async def buyer(
    c: ContainerDep, token: Annotated[str | None, Security(BuyerTokenAuth(required=True))]
) -> str:
    return await c.access.buyer(token)


async def optional_buyer(
    c: ContainerDep, token: Annotated[str | None, Security(BuyerTokenAuth(required=False))]
) -> str | None:
    return await c.access.buyer(token) if token else None


async def buyer_identity(
    c: ContainerDep, token: Annotated[str | None, Security(BuyerTokenAuth(required=True))]
) -> BuyerIdentity:
    """The buyer with the tiers and issue time of their token (for access windows)."""
    return await c.access.identity(token)


def client_address(request: Request) -> str:
    """The caller's address as the server saw it (behind a proxy, run uvicorn with
    ``--proxy-headers --forwarded-allow-ips`` so it is the buyer's, not the proxy's);
    "" when unknown. Per-address rate limits count by it."""
    return request.client.host if request.client else ""


Buyer = Annotated[str, Depends(buyer)]
BuyerWho = Annotated[BuyerIdentity, Depends(buyer_identity)]
ClientAddress = Annotated[str, Depends(client_address)]
MaybeBuyer = Annotated[str | None, Depends(optional_buyer)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description=(
            "Retry-safe key: the same key and body give the same result. While the first "
            "request with the key runs, a retry is 409 idempotency_in_progress; a "
            "different body is 409 idempotency_mismatch"
        ),
    ),
]

"""Request dependencies: the container, the caller's key, the buyer, and the check that
a request's path, query and form text can be stored."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Header, Request, params

from dropline.bootstrap import Container
from dropline.domain.inputs import check_text
from dropline.services.platform.access import Principal

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


def scope(needed: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency requiring an API key of at least scope ``needed``."""

    async def dep(
        c: ContainerDep,
        authorization: Annotated[str | None, Header(description="`Bearer <api key>`")] = None,
    ) -> Principal:
        principal = await c.access.authenticate(bearer(authorization))
        principal.require(needed)
        return principal

    return dep


Storefront = Annotated[Principal, Depends(scope("storefront"))]
Ops = Annotated[Principal, Depends(scope("ops"))]
Admin = Annotated[Principal, Depends(scope("admin"))]


async def buyer(
    c: ContainerDep,
    x_buyer_token: Annotated[
        str | None, Header(description="Signed buyer token minted by the creator's site")
    ] = None,
) -> str:
    return c.access.buyer(x_buyer_token)


async def optional_buyer(
    c: ContainerDep, x_buyer_token: Annotated[str | None, Header()] = None
) -> str | None:
    return c.access.buyer(x_buyer_token) if x_buyer_token else None


Buyer = Annotated[str, Depends(buyer)]
MaybeBuyer = Annotated[str | None, Depends(optional_buyer)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retry-safe key: the same key and body give the same result",
    ),
]

"""Request dependencies: the container, the caller's key, the buyer."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from dropline.bootstrap import Container
from dropline.services.context import Actor, actor
from dropline.services.platform.access import Principal

# Dependencies that do no I/O are ``async def`` on purpose: FastAPI runs a plain ``def``
# dependency in the thread pool, a thread hop per request on the hot path.


async def container(request: Request) -> Container:
    c: Container = request.app.state.container
    return c


ContainerDep = Annotated[Container, Depends(container)]


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
        if principal.allows("ops"):  # operators' changes are audited (store/uow.py)
            actor.set(Actor("key", principal.key_id, principal.name))
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

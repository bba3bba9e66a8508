"""``Idempotency-Key`` for creating and charging POSTs, stored in the database.

The first successful response is stored with a hash of the request; a retry with the
same key and body gets the same response back (``Idempotent-Replayed: true``), the same
key with a different body gets 409 ``idempotency_mismatch``. Errors are not stored: a
retry after a refusal is evaluated afresh (the services refuse double payment anyway).

A handler that writes its result in a transaction of its own can store the response in
that same transaction (``run_folded`` hands it a ``Pending``): one write transaction fewer,
and no moment where the result is committed but the key is not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from dropline.bootstrap import Container
from dropline.domain.errors import IdempotencyMismatch
from dropline.services.platform.access import Principal
from dropline.store.uow import UnitOfWork


async def _request_hash(request: Request) -> str:
    body = await request.body()
    return hashlib.sha256(request.method.encode() + request.url.path.encode() + body).hexdigest()


def _encode(result: Any) -> Any:
    """``jsonable_encoder(result)``; a Pydantic model is dumped directly (the same JSON
    values, without walking the dumped dict a second time in Python)."""
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", by_alias=True)
    return jsonable_encoder(result)


OWNER_MAX = 40  # idempotency_records.principal


def _owner(key_id: str, scope: str) -> str:
    """Whose key space a key lives in: the API key, narrowed by ``scope`` (the buyer).
    A buyer id may be 120 characters, so the scope is hashed to fit the column."""
    if not scope:
        return key_id
    room = max(8, OWNER_MAX - len(key_id) - 1)
    return f"{key_id}:{hashlib.sha256(scope.encode()).hexdigest()[:room]}"


class Pending:
    """The response of a keyed request, to be stored by the handler inside its own write
    transaction (``store``); if it is not, ``run_folded`` stores it afterwards. The
    handler may change ``status`` before either happens."""

    def __init__(
        self, owner: str, key: str, method: str, path: str, digest: str, status: int
    ) -> None:
        self.owner, self.key, self.method, self.path = owner, key, method, path
        self.digest, self.status = digest, status
        self.body: Any = None
        self.stored = False

    async def store(self, uow: UnitOfWork, result: Any) -> None:
        """Save ``result`` as this key's response in ``uow`` (committed by the caller)."""
        self.body = _encode(result)
        await uow.access.save_response(
            self.owner,
            self.key,
            self.method,
            self.path,
            self.digest,
            self.status,
            json.dumps(self.body),
        )
        self.stored = True


async def run(
    c: Container,
    request: Request,
    principal: Principal,
    key: str | None,
    handler: Callable[[], Awaitable[Any]],
    status_code: int = 201,
    scope: str = "",
) -> Response:
    """Run ``handler`` at most once per (caller, key) and replay its response."""

    async def folded(_: Pending | None) -> Any:
        return await handler()

    return await run_folded(c, request, principal, key, folded, status_code, scope)


async def run_folded(
    c: Container,
    request: Request,
    principal: Principal,
    key: str | None,
    handler: Callable[[Pending | None], Awaitable[Any]],
    status_code: int = 201,
    scope: str = "",
) -> Response:
    """``run`` for a handler that may store its response itself: it gets a ``Pending``
    (None without a key) and calls ``store`` in its final write transaction with the
    result it then returns. Errors must not be stored, as with ``run``."""
    if key is None:
        result = await handler(None)
        return JSONResponse(_encode(result), status_code=status_code)
    owner = _owner(principal.key_id, scope)
    digest = await _request_hash(request)
    async with c.uow(readonly=True) as uow:
        stored = await uow.access.get_response(owner, key)
    if stored is not None:
        if stored.request_hash != digest:
            raise IdempotencyMismatch("this Idempotency-Key was used with a different request")
        return Response(
            stored.body,
            status_code=stored.status_code,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    pending = Pending(owner, key, request.method, request.url.path, digest, status_code)
    result = await handler(pending)
    # The handler may have chosen another status (202: the card needs 3-D Secure); a
    # replay answers with that status too.
    if pending.stored:
        return JSONResponse(pending.body, status_code=pending.status)
    body = _encode(result)
    await _save(c, owner, key, request, digest, pending.status, body)
    return JSONResponse(body, status_code=pending.status)


async def _save(
    c: Container, owner: str, key: str, request: Request, digest: str, status: int, body: Any
) -> None:
    async with c.uow() as uow:
        await uow.access.save_response(
            owner, key, request.method, request.url.path, digest, status, json.dumps(body)
        )
        await uow.commit()

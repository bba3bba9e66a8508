"""``Idempotency-Key`` for creating and charging POSTs, stored in the database.

The key is claimed *before* the request runs: one insert, atomic on the record's primary
key (caller, key), marks it in progress. Of any number of concurrent requests with one
key exactly one runs; the others get 409 ``idempotency_in_progress`` while it runs (as
Stripe does) and, once it has answered, its stored response with
``Idempotent-Replayed: true``. The same key with a different body gets 409
``idempotency_mismatch``.

Errors are not stored: when the request fails its claim is dropped, and a retry is
evaluated afresh (the services refuse double payment anyway). Except when the request
had started something that may still finish without it (a checkout whose payment is in
flight): the handler names it on the claim (``Pending.attach``), the claim stays, and a
retry asks the route's ``resume`` what became of it: still being finished (409
``idempotency_in_progress``), finished (its response, stored as the key's: a checkout
that recovery turned into an order replays the original 201 with the order), or failed
(run afresh). A claim whose request vanished without a word and without naming anything
(its process was killed) is taken over by a retry after ``LEASE_S``.

A handler that writes its result in a transaction of its own can store the response in
that same transaction (``run_folded`` hands it a ``Pending``): one write transaction
fewer, and no moment where the result is committed but the key is not.

``run_folded`` knows the request only as a ``Call`` (method, path, body), so the ASGI hot
path (``api/hotpath.py``) runs the very same steps for a request FastAPI never saw.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from dropline.bootstrap import Container
from dropline.domain.errors import IdempotencyInProgress, IdempotencyMismatch
from dropline.services.platform.access import Principal
from dropline.store.platform.access_repo import StoredResponse
from dropline.store.uow import UnitOfWork

log = logging.getLogger(__name__)

#: After this long, the claim of a request that neither answered nor named what it
#: started is taken over by a retry (its process died; no request runs this long).
LEASE_S = 120.0

RUNNING: Literal["running"] = "running"
RERUN: Literal["rerun"] = "rerun"
Resumed = tuple[int, Any] | Literal["running", "rerun"]
Resume = Callable[[str], Awaitable[Resumed]]
"""A route's answer for what an earlier request with the key started (its id, see
``Pending.attach``): ``(status, result)`` to answer with and store as the key's
response, ``RUNNING`` while it is still being finished, ``RERUN`` when it ended without
a response to repeat (the request runs afresh)."""


class Call(NamedTuple):
    """What a key is bound to: the request's method, path and body (its hash is stored
    with the claim; the same key with another call is ``idempotency_mismatch``)."""

    method: str
    path: str
    body: bytes

    def digest(self) -> str:
        return hashlib.sha256(self.method.encode() + self.path.encode() + self.body).hexdigest()


async def call_of(request: Request) -> Call:
    """The ``Call`` of a FastAPI request (its body as the route read it)."""
    return Call(request.method, request.url.path, await request.body())


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


def _replay(status: int, body: str | Any) -> Response:
    content = body if isinstance(body, str) else json.dumps(body)
    return Response(
        content,
        status_code=status,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


class Pending:
    """The claim of a keyed request while its handler runs. The handler may store its
    response inside its own write transaction (``store``); if it does not,
    ``run_folded`` stores it afterwards. It may change ``status`` before either happens,
    and name what it started (``attach``) so a retry can resume it."""

    def __init__(self, owner: str, key: str, claimed_at: datetime, status: int) -> None:
        self.owner, self.key, self.claimed_at, self.status = owner, key, claimed_at, status
        self.body: Any = None
        self.stored = False
        self.resource: str | None = None

    async def attach(self, uow: UnitOfWork, resource: str) -> None:
        """Name, in ``uow`` (committed by the caller), what this request started and may
        finish without it: if the request then fails, its claim stays for ``resume``."""
        await uow.access.attach_resource(self.owner, self.key, self.claimed_at, resource)
        self.resource = resource

    async def store(self, uow: UnitOfWork, result: Any) -> None:
        """Save ``result`` as this key's response in ``uow`` (committed by the caller).
        ``stored`` turns true only once ``uow`` commits: a transaction rolled back (a
        group commit's batch that is then written again alone, a failed commit) leaves
        the response to be saved by whoever writes it next, or by ``run_folded``."""
        body = _encode(result)
        await uow.access.save_response(
            self.owner, self.key, self.claimed_at, self.status, json.dumps(body)
        )

        def committed() -> None:
            self.body = body
            self.stored = True

        uow.after_commit(committed)


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

    return await run_folded(c, await call_of(request), principal, key, folded, status_code, scope)


async def run_folded(
    c: Container,
    call: Call,
    principal: Principal,
    key: str | None,
    handler: Callable[[Pending | None], Awaitable[Any]],
    status_code: int = 201,
    scope: str = "",
    resume: Resume | None = None,
) -> Response:
    """``run`` for a handler that may store its response itself: it gets a ``Pending``
    (None without a key) and calls ``store`` in its final write transaction with the
    result it then returns. Errors must not be stored, as with ``run``. ``resume``
    answers for what an unfinished earlier request with the key started (``Resume``).
    ``call`` is the request, which a key is bound to."""
    if key is None:
        result = await handler(None)
        if isinstance(result, BaseModel):
            # pydantic's own JSON (Rust): the bytes JSONResponse would send for the
            # dumped model, without the dict and the standard library's encoder
            return Response(
                result.model_dump_json(by_alias=True),
                status_code=status_code,
                media_type="application/json",
            )
        return JSONResponse(_encode(result), status_code=status_code)
    owner = _owner(principal.key_id, scope)
    claim = await _claim(c, owner, key, call, resume)
    if isinstance(claim, Response):
        return claim
    pending = Pending(owner, key, claim.created_at, status_code)
    try:
        result = await handler(pending)
    except Exception:
        await _after_failure(c, pending, resume)
        raise
    # The handler may have chosen another status (202: the card needs 3-D Secure); a
    # replay answers with that status too.
    if pending.stored:
        return JSONResponse(pending.body, status_code=pending.status)
    body = _encode(result)
    await _save(c, pending, pending.status, body)
    return JSONResponse(body, status_code=pending.status)


async def _claim(
    c: Container, owner: str, key: str, call: Call, resume: Resume | None
) -> StoredResponse | Response:
    """This request's claim on the key, or the response to answer with instead (a
    replay). Raises ``IdempotencyMismatch`` or ``IdempotencyInProgress``."""
    digest = call.digest()
    for _ in range(3):  # a takeover lost to another retry: look again
        async with c.uow() as uow:
            claimed, held = await uow.access.claim_key(owner, key, call.method, call.path, digest)
            await uow.commit()
        if claimed:
            return held
        if held.request_hash != digest:
            raise IdempotencyMismatch("this Idempotency-Key was used with a different request")
        if not held.in_progress:
            return _replay(held.status_code, held.body)
        if held.resource is not None and resume is not None:
            answer = await resume(held.resource)
            if answer == RUNNING:
                raise _in_progress()
            if answer != RERUN:
                status, result = answer
                body = _encode(result)
                pending = Pending(owner, key, held.created_at, status)
                await _save(c, pending, status, body)
                return _replay(status, body)
        elif held.created_at > c.uow.now() - timedelta(seconds=LEASE_S):
            raise _in_progress()
        async with c.uow() as uow:
            taken = await uow.access.take_over_key(owner, key, held)
            await uow.commit()
        if taken is not None:
            return taken
    raise _in_progress()


def _in_progress() -> IdempotencyInProgress:
    return IdempotencyInProgress(
        "a request with this Idempotency-Key is still in progress; retry later for its response"
    )


async def _after_failure(c: Container, pending: Pending, resume: Resume | None) -> None:
    """The handler raised: drop its claim so a retry runs afresh, unless what it started
    may still finish (then the claim stays for ``resume``; if it has finished, its
    response is stored now)."""
    try:
        if pending.resource is not None and resume is not None:
            answer = await resume(pending.resource)
            if answer == RUNNING:
                return
            if answer != RERUN:
                status, result = answer
                await _save(c, pending, status, _encode(result))
                return
        async with c.uow() as uow:
            await uow.access.release_key(pending.owner, pending.key, pending.claimed_at)
            await uow.commit()
    except Exception:  # the request's own error is the one to report
        log.exception("could not release Idempotency-Key %r", pending.key)


async def _save(c: Container, pending: Pending, status: int, body: Any) -> None:
    async with c.uow() as uow:
        await uow.access.save_response(
            pending.owner, pending.key, pending.claimed_at, status, json.dumps(body)
        )
        await uow.commit()

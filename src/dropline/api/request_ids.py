"""The request id: taken from ``X-Request-ID`` (when it is a sane token) or made, set for
the request's logs (``services/context.request_id``), returned in the response's
``X-Request-ID`` header, and added to every problem response as ``request_id``.

A pure ASGI middleware outermost in the app (``api/app.DroplineAPI``), so the hot path,
the body limits and FastAPI all run inside it. A problem body (``application/problem+
json``, always one JSON object) gets the member spliced in before its closing brace,
with its ``content-length`` fixed; the ids it accepts or makes need no JSON escaping.
At ``DROPLINE_LOG_LEVEL=debug`` each request also logs one line (method, path, status)
on ``dropline.requests``; at the usual levels it costs one level check.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dropline.services.context import actor, request_id

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_PROBLEM = b"application/problem+json"
log = logging.getLogger("dropline.requests")


# A made id: this process's random prefix and a counter (unique without a syscall each).
_PREFIX = secrets.token_hex(4)
_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """A fresh id, unique across processes (random per process, counted within)."""
    return f"{_PREFIX}{next(_COUNTER):08x}"


def _incoming(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == HEADER:
            return value.decode("ascii") if _SANE.fullmatch(value) else ""
    return ""


def with_request_id(body: bytes, rid: str) -> bytes:
    """A problem body with ``request_id`` added (unchanged if it is not a JSON object or
    already has one)."""
    end = body.rstrip()
    if not end.endswith(b"}") or b'"request_id"' in body:
        return body
    sep = b"," if end[:-1].rstrip() not in (b"{", b"") else b""
    return end[:-1] + sep + b'"request_id":"' + rid.encode() + b'"}'


class RequestIdMiddleware:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming(scope) or new_request_id()
        token = request_id.set(rid)
        who = actor.set(None)  # set by the key or login check of this request only
        held: list[Message] = []  # a problem's start, until its whole body is here
        chunks: list[bytes] = []
        status = [0]

        async def send_with_id(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                status[0] = message["status"]
                headers = [*message.get("headers", ()), (HEADER, rid.encode())]
                message = {**message, "headers": headers}
                for n, v in headers:
                    if v.startswith(_PROBLEM) and n.lower() == b"content-type":
                        held.append(message)
                        return
            elif kind == "http.response.body" and held:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = with_request_id(b"".join(chunks), rid)
                start = held.pop()
                start["headers"] = [
                    (n, str(len(body)).encode() if n.lower() == b"content-length" else v)
                    for n, v in start["headers"]
                ]
                await send(start)
                message = {"type": "http.response.body", "body": body}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
            if log.isEnabledFor(logging.DEBUG):  # one line per request, opt-in
                log.debug("%s %s %d", scope["method"], scope["path"], status[0])
        finally:
            request_id.reset(token)
            actor.reset(who)

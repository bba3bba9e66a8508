"""Bounded requests: every body has a size limit, and a JSON body a shape limit.

This runs in front of FastAPI (``DroplineAPI.without_hot_path``), so a refusal costs
no routing, parsing or validation:

* **Size.** A body whose ``Content-Length`` is over its route's limit gets a 413
  problem (``payload_too_large``) before a byte of it is read. Most routes share
  ``Settings.max_body_bytes``; the few that take files name a larger limit in
  ``LARGE_BODIES`` (and on their route, ``max_body_size``, which also stops a chunked
  body without a length at the same size).
* **Shape.** A JSON body is read here (it is bounded by the size limit) and scanned
  once without building objects: nested deeper than ``max_json_depth`` or with a list
  longer than ``max_json_items``, it gets a 422 problem (``json_too_complex``), so no
  recursive parser or per-item validation meets a hostile shape. The route then reads
  the same bytes.

Slow clients are bounded where the bytes arrive, in the HTTP protocol
(``api/http_protocol.py``: 408 ``request_timeout``). The hold hot path
(``api/hotpath.py``) has its own, smaller limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dropline.api.errors import problem_body
from dropline.domain.aftersales.problems import MAX_FORM_BYTES, MAX_REPORT_BYTES
from dropline.domain.errors import JsonTooComplex
from dropline.services.supply.qc_trace import MAX_PHOTO_BYTES

MAX_CSV_BYTES = 5_000_000  # one tracking CSV upload; split larger files

# (method, path pattern) -> the body limit of routes that take files.
LARGE_BODIES: list[tuple[str, re.Pattern[str], int]] = [
    ("POST", re.compile(r"/v1/fulfillment-events/tracking-import"), MAX_CSV_BYTES),
    ("POST", re.compile(r"/v1/inspections/[^/]+/photos"), MAX_PHOTO_BYTES),
    ("POST", re.compile(r"/v1/(orders/[^/]+/problems|problem-links/report)$"), MAX_REPORT_BYTES),
    # The buyer's problem-report page posts its photos as multipart (raw bytes).
    ("POST", re.compile(r"/ui/report-problem"), MAX_FORM_BYTES),
]

# A JSON string (with its escapes), or one structural character.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def check_json_shape(body: bytes, max_depth: int, max_items: int) -> None:
    """Raise ``JsonTooComplex`` when ``body`` nests deeper than ``max_depth`` or a list
    holds more than ``max_items`` items. Malformed JSON is left to the parser."""
    depth = 0
    counts: list[int] = []  # per open container: items so far, or -1 for an object
    for m in _TOKENS.finditer(body):
        tok = m.group()
        if tok in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                raise JsonTooComplex(
                    f"the JSON body is nested deeper than {max_depth} levels", max_depth=max_depth
                )
            counts.append(0 if tok == b"[" else -1)
        elif tok in (b"]", b"}"):
            depth -= 1
            if counts:
                counts.pop()
        elif tok == b"," and counts and counts[-1] >= 0:
            counts[-1] += 1
            if counts[-1] >= max_items:
                raise JsonTooComplex(
                    f"a JSON list in the body has more than {max_items} items",
                    max_items=max_items,
                )


class RequestLimits:
    """The size and shape limits of the module docstring, as a pure ASGI wrapper."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Callable[[], tuple[int, int, int]],
    ) -> None:
        self.app = app
        self.limits = limits  # (max_body_bytes, max_json_depth, max_json_items)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        default, max_depth, max_items = self.limits()
        limit = body_limit(scope["method"], scope["path"], default)
        length, json_body = _headers(scope)
        if length is not None and length > limit:
            await _problem(send, 413, "payload_too_large", _too_large(limit), scope["path"])
            return
        if not json_body:
            await self.app(scope, receive, _problem_413(send, scope["path"], limit))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _problem(send, 413, "payload_too_large", _too_large(limit), scope["path"])
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            check_json_shape(body, max_depth, max_items)
        except JsonTooComplex as exc:
            await _problem(send, 422, exc.code, exc.detail, scope["path"])
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def body_limit(method: str, path: str, default: int) -> int:
    """The body limit of a request: a file route's own, else ``default``."""
    for m, pattern, limit in LARGE_BODIES:
        if m == method and pattern.fullmatch(path):
            return limit
    return default


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit:,} bytes"


def _headers(scope: Scope) -> tuple[int | None, bool]:
    length: int | None = None
    is_json = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"content-type":
            is_json = b"json" in value.lower()
    return length, is_json


async def _problem(send: Send, status: int, code: str, detail: str, path: str) -> None:
    body = orjson.dumps(problem_body(status, code, detail, path))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _problem_413(send: Send, path: str, limit: int) -> Send:
    """``send`` that turns the framework's plain-text 413 (a chunked body with no length
    that ran past the route's ``max_body_size``) into the same problem as above."""
    replacing = False

    async def wrapped(message: Message) -> None:
        nonlocal replacing
        if message["type"] == "http.response.start" and message["status"] == 413:
            replacing = True
            return
        if replacing:
            if not message.get("more_body", False):
                await _problem(send, 413, "payload_too_large", _too_large(limit), path)
            return
        await send(message)

    return wrapped

"""Server-Sent Events: push a snapshot whenever it changes.

The producer is polled every ``interval_s`` (half a second: the monitor is then at most
that far behind); an unchanged snapshot is not resent, and a comment line goes out every
``heartbeat_s`` so proxies keep the connection open. The loop ends when the client goes
away, after ``max_s`` (the browser's EventSource reconnects by itself), or when the
producer raises a domain error (sent as an ``error`` event first).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import StreamingResponse

from dropline.domain.errors import DroplineError

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def format_event(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One SSE message; ``data`` is JSON on a single line."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"


async def snapshots(
    request: Request,
    produce: Callable[[], Awaitable[dict[str, Any]]],
    *,
    event: str = "snapshot",
    interval_s: float = 0.5,
    heartbeat_s: float = 15.0,
    max_s: float = 3600.0,
) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    last: bytes | None = None
    n = 0
    started = last_sent = time.monotonic()
    while time.monotonic() - started < max_s:
        if await request.is_disconnected():
            return
        try:
            data = await produce()
        except DroplineError as exc:
            yield format_event("error", {"code": exc.code, "detail": exc.detail})
            return
        body = orjson.dumps({k: v for k, v in data.items() if k != "at"})
        if body != last:
            n += 1
            last = body
            last_sent = time.monotonic()
            yield format_event(event, data, n)
        elif time.monotonic() - last_sent > heartbeat_s:
            last_sent = time.monotonic()
            yield b": keep-alive\n\n"
        await asyncio.sleep(interval_s)


class EventStream(StreamingResponse):
    """A ``text/event-stream`` response; as a route's ``response_class`` it is what the
    OpenAPI document says the route answers."""

    media_type = "text/event-stream"


#: One event of the stream, as OpenAPI 3.1 describes an SSE media type: its ``schema``
#: is one event's fields (``snapshot`` events, and an ``error`` event before the end).
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["snapshot", "error"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "a snapshot as one line of JSON; for `error`, its code and detail",
        },
        "id": {"type": "string", "description": "the snapshot's number, from 1"},
        "retry": {"type": "integer", "description": "reconnect after this many ms"},
    },
}
#: ``responses=`` of an SSE route.
SSE_OPENAPI: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: a `snapshot` whenever the data changes",
        "content": {"text/event-stream": {"schema": SSE_EVENT}},
    }
}


def sse_response(request: Request, produce: Callable[[], Awaitable[dict[str, Any]]]) -> Any:
    return EventStream(snapshots(request, produce), headers=SSE_HEADERS)

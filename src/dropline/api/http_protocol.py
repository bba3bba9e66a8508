"""uvicorn's httptools protocol, writing a response's head and body in one syscall, and
giving up on clients too slow to send their request.

uvicorn writes the status line and headers when the app sends ``http.response.start``
and the body on ``http.response.body``: two ``write`` calls, two TCP segments and two
wake-ups of the client for every small JSON answer. On the hot path that second system
call was a large share of a hold's CPU (``bench/notes.md``). ``CoalescingTransport``
keeps the head of a response that declares its ``content-length`` and sends it with
the body's first bytes. A streamed response (no length: server-sent events, chunked)
is written as before, at once, so a stream's headers never wait for its first event;
closing the transport sends anything held first.

Slow clients: uvicorn waits for a request's headers and body as long as the client
likes, so a few hundred connections that trickle a byte at a time (slowloris) would
hold the server's sockets and tasks. ``CoalescingHttpToolsProtocol`` gives every
request ``Settings.request_read_timeout_s`` from its first byte (or from the
connection, for the first request) to arrive whole; past that it answers 408 with a
``request_timeout`` problem and closes the connection. One timer per request, armed
and cancelled from the parser's callbacks, so the hot path pays about a microsecond.

Used by ``dropline serve`` (``--http`` of uvicorn); any other ASGI server works too.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HEAD_END = b"\r\n\r\n"
_TIMEOUT_BODY = (
    b'{"type":"https://dropline.dev/problems/request_timeout","title":"Request timeout",'
    b'"status":408,"code":"request_timeout",'
    b'"detail":"the request did not arrive in time; the connection is closed"}'
)
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
    b"content-length: "
    + str(len(_TIMEOUT_BODY)).encode()
    + b"\r\nconnection: close\r\n\r\n"
    + _TIMEOUT_BODY
)


@functools.cache
def read_timeout_s() -> float:
    """``Settings.request_read_timeout_s``, read once per process (on the first
    connection, not at import)."""
    from dropline.config import load_settings

    return load_settings().request_read_timeout_s


_LENGTH = b"\r\ncontent-length: "


class CoalescingTransport:
    """A transport proxy that holds a fixed-length response's head until its body."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        elif (
            isinstance(data, bytes)
            and data.startswith(b"HTTP/1.1 ")
            and data.endswith(_HEAD_END)
            and _LENGTH in data
        ):
            self._held = data
        else:
            self._transport.write(data)

    def flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose responses go through a ``CoalescingTransport`` and
    whose requests must arrive within ``read_timeout_s()``."""

    _read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = CoalescingTransport(transport)  # type: ignore[assignment]
        self._arm_read_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_read_timer()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._cancel_read_timer()

    def _arm_read_timer(self) -> None:
        self._cancel_read_timer()
        self._read_timer = self.loop.call_later(read_timeout_s(), self._read_timed_out)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        """The request is still incomplete: answer 408 unless the app has begun its
        own response, and close the connection either way."""
        self._read_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()

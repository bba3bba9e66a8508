"""uvicorn's httptools protocol, writing a response's head and body in one syscall.

uvicorn writes the status line and headers when the app sends ``http.response.start``
and the body on ``http.response.body``: two ``write`` calls, two TCP segments and two
wake-ups of the client for every small JSON answer. On the hot path that second system
call was a large share of a hold's CPU (``bench/notes.md``). ``CoalescingTransport``
keeps the head of a response that declares its ``content-length`` and sends it with
the body's first bytes. A streamed response (no length: server-sent events, chunked)
is written as before, at once, so a stream's headers never wait for its first event;
closing the transport sends anything held first.

Used by ``dropline serve`` (``--http`` of uvicorn); any other ASGI server works too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HEAD_END = b"\r\n\r\n"
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
    """``HttpToolsProtocol`` whose responses go through a ``CoalescingTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = CoalescingTransport(transport)  # type: ignore[assignment]

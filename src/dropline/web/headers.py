"""Security headers on every page a browser renders: ``/ui``, ``/docs``, ``/redoc``.

The Content-Security-Policy allows scripts only from this origin (no inline script,
no ``eval``), no framing (``frame-ancestors 'none'``), forms posting only here, and
nothing fetched from elsewhere; inline ``style`` attributes stay allowed (the monitor's
bars are sized that way).
JSON API responses are left as they are: they are not rendered by browsers.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
PAGE_PREFIXES = ("/ui", "/docs", "/redoc")


def is_page(path: str) -> bool:
    """Whether ``path`` is one of the browser pages (``/`` redirects to one)."""
    return path == "/" or path.startswith(PAGE_PREFIXES)


class SecurityHeaders:
    """Adds ``HEADERS`` to the responses of page requests; others pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)

"""What every ``/ui`` page shares: the session, the login and CSRF checks, page
rendering and the navigation.

Sessions are signed cookies (HttpOnly, SameSite=Strict, Secure on https) that carry the
key's id, name and scope, never the key. Every POST checks the session's CSRF token.
The key is re-checked against the database on every page and action, so revoking a key
ends its sessions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dropline.bootstrap import Container
from dropline.domain.errors import InvalidInput
from dropline.services.context import Actor, actor
from dropline.web import session as sess
from dropline.web.render import env

# Rows per list page (orders, messages, returns); tests lower it.
PAGE_ROWS = 200

# The navigation bar. Other capabilities append (label, href) here when they add pages;
# an entry with an empty href shows as a placeholder.
NAV: list[tuple[str, str]] = [
    ("Drops", "/ui"),
    ("Products", "/ui/products"),
    ("Bundles", "/ui/bundles"),
    ("Orders", "/ui/orders"),
    ("Messages", "/ui/messages"),
    ("Webhook deliveries", "/ui/webhooks"),
    ("Returns", "/ui/returns"),
    ("Counts", "/ui/counts"),
    ("Audit", "/ui/audit"),
]


#: The CSRF token field every form posts.
Csrf = Annotated[str, Form(max_length=200)]


def back(path: str, message: str, level: str = "info") -> Response:
    """Redirect (303) to ``path`` with a flash message: what a form did, or why not."""
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}flash={quote(message)}&level={level}", status_code=303)


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfFailed(Exception):
    pass


def session_secret(c: Container) -> bytes:
    return sess.derive_secret(c.settings.ui_session_secret, c.settings.buyer_token_secret)


def read_session(request: Request, c: Container) -> sess.Session | None:
    return sess.decode(session_secret(c), request.cookies.get(sess.COOKIE), c.clock.now())


def set_session_cookie(response: Response, request: Request, c: Container, s: sess.Session) -> None:
    response.set_cookie(
        sess.COOKIE,
        sess.encode(session_secret(c), s),
        max_age=sess.SESSION_TTL_S,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def key_active(c: Container, key_id: str) -> bool:
    return await c.access.key_active(key_id)


async def require_login(request: Request, c: Container) -> sess.Session:
    """The logged-in session, or ``LoginRequired`` (pages redirect to the login form)."""
    s = read_session(request, c)
    if (
        s is None
        or not s.logged_in
        or not await key_active(c, s.key_id)
        or not await c.ui_sessions.still_valid(s.key_id, s.issued)
    ):
        raise LoginRequired(request.url.path)
    actor.set(Actor("user", s.key_id, s.name))  # what this login changes is audited
    return s


async def require_post(request: Request, c: Container, token: str | None) -> sess.Session:
    s = await require_login(request, c)
    if not sess.csrf_ok(s, token):
        raise CsrfFailed()
    return s


def page(request: Request, template: str, s: sess.Session | None, **ctx: Any) -> HTMLResponse:
    flash = request.query_params.get("flash")
    html = (
        env()
        .get_template(template)
        .render(
            session=s, nav=NAV, flash=flash, flash_level=request.query_params.get("level"), **ctx
        )
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


def safe_next(value: str | None) -> str:
    """Only paths inside /ui: never an open redirect."""
    if value and value.startswith("/ui") and not value.startswith("//"):
        return value
    return "/ui"


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    """A page for what went wrong (``404`` for an unknown id), never raw JSON."""
    html = (
        env()
        .get_template("error.html")
        .render(session=None, nav=NAV, flash=None, status=status, detail=detail)
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def form_time(value: str, field: str | None = None) -> datetime | None:
    """A ``datetime-local`` form value (``2026-12-12T20:30``, what the browser's picker
    sends) read as UTC, as every page shows times; one with an offset or ``Z`` is
    converted. Empty is None; anything else is a 400 naming ``field``."""
    value = value.strip()
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        where = {"field": field} if field else {}
        raise InvalidInput(f"{value[:40]!r} is not a date and time", **where) from None
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)

"""The ``/ui`` pages: login with an ops/admin key, drops, the live monitor, the report.

Sessions are signed cookies (HttpOnly, SameSite=Strict, Secure on https) that carry the
key's id, name and scope, never the key. Every POST checks the session's CSRF token.
The key is re-checked against the database on every page and action, so revoking a key
ends its sessions.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from dropline.api.deps import ContainerDep
from dropline.api.sse import sse_response
from dropline.bootstrap import Container
from dropline.domain.drops import DropStatus
from dropline.domain.errors import DroplineError, Forbidden, Unauthenticated
from dropline.services.serialize import rfc3339
from dropline.web import session as sess
from dropline.web.chart import sales_chart
from dropline.web.render import STATIC, env

router = APIRouter(prefix="/ui", include_in_schema=False)

# The navigation bar. Other capabilities append (label, href) here when they add pages;
# an entry with an empty href shows as a placeholder.
NAV: list[tuple[str, str]] = [
    ("Drops", "/ui"),
    ("Orders", "/ui/orders"),
    ("Messages", "/ui/messages"),
    ("Webhook deliveries", "/ui/webhooks"),
    ("Returns", "/ui/returns"),
]


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfFailed(Exception):
    pass


def _secret(c: Container) -> bytes:
    return sess.derive_secret(c.settings.ui_session_secret, c.settings.buyer_token_secret)


def _read(request: Request, c: Container) -> sess.Session | None:
    return sess.decode(_secret(c), request.cookies.get(sess.COOKIE))


def _set_cookie(response: Response, request: Request, c: Container, s: sess.Session) -> None:
    response.set_cookie(
        sess.COOKIE,
        sess.encode(_secret(c), s),
        max_age=sess.SESSION_TTL_S,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def _key_active(c: Container, key_id: str) -> bool:
    return any(k.id == key_id and k.revoked_at is None for k in await c.access.list_keys())


async def require_login(request: Request, c: Container) -> sess.Session:
    """The logged-in session, or ``LoginRequired`` (pages redirect to the login form)."""
    s = _read(request, c)
    if s is None or not s.logged_in or not await _key_active(c, s.key_id):
        raise LoginRequired(request.url.path)
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


def _safe_next(value: str | None) -> str:
    """Only paths inside /ui: never an open redirect."""
    if value and value.startswith("/ui") and not value.startswith("//"):
        return value
    return "/ui"


# --------------------------------------------------------------------------- login
@router.get("/login")
async def login_form(request: Request, c: ContainerDep, next: str = "/ui") -> Response:
    s = _read(request, c) or sess.new_session()
    response = page(request, "login.html", None, csrf=s.csrf, next=_safe_next(next), error=None)
    _set_cookie(response, request, c, s)
    return response


@router.post("/login")
async def login(
    request: Request,
    c: ContainerDep,
    api_key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/ui",
) -> Response:
    pre = _read(request, c)
    if not sess.csrf_ok(pre, csrf_token):
        raise CsrfFailed()
    assert pre is not None
    try:
        principal = await c.access.authenticate(api_key.strip())
        principal.require("ops")
    except (Unauthenticated, Forbidden) as exc:
        detail = (
            "This key cannot use the web pages: an ops or admin key is needed."
            if isinstance(exc, Forbidden)
            else "Unknown or revoked API key."
        )
        refused = page(
            request, "login.html", None, csrf=pre.csrf, next=_safe_next(next), error=detail
        )
        refused.status_code = 401 if isinstance(exc, Unauthenticated) else 403
        return refused
    s = sess.new_session(principal.key_id, principal.name, principal.scope)
    response = RedirectResponse(_safe_next(next), status_code=303)
    _set_cookie(response, request, c, s)
    return response


@router.post("/logout")
async def logout(
    request: Request, c: ContainerDep, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    s = _read(request, c)
    if not sess.csrf_ok(s, csrf_token):
        raise CsrfFailed()
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(sess.COOKIE, path="/ui")
    return response


# --------------------------------------------------------------------------- pages
@router.get("")
@router.get("/")
async def drops_page(request: Request, c: ContainerDep) -> Response:
    s = await require_login(request, c)
    drops = [
        {
            "id": d.id,
            "name": d.name,
            "status": d.status.value,
            "currency": d.currency,
            "starts_at": rfc3339(d.starts_at),
        }
        for d in await c.drops.list_drops()
    ]
    return page(request, "drops.html", s, drops=drops)


DROP_ACTIONS = {
    DropStatus.DRAFT: [("scheduled", "Schedule", "")],
    DropStatus.SCHEDULED: [("live", "Go live", "primary")],
    DropStatus.LIVE: [("paused", "Pause drop", "")],
    DropStatus.PAUSED: [("live", "Resume drop", "primary")],
    DropStatus.ENDED: [],
}


@router.get("/drops/{drop_id}")
async def monitor_page(drop_id: str, request: Request, c: ContainerDep) -> Response:
    s = await require_login(request, c)
    snap = await c.monitor.snapshot(drop_id)
    status = DropStatus(snap["drop"]["status"])
    actions = list(DROP_ACTIONS[status])
    if status is not DropStatus.ENDED:
        actions.append(("ended", "End drop", "danger"))
    return page(request, "monitor.html", s, snap=snap, drop_actions=actions)


@router.get("/drops/{drop_id}/events")
async def monitor_events(drop_id: str, request: Request, c: ContainerDep) -> Response:
    """The monitor's SSE stream for a logged-in browser (same body as the ops stream)."""
    s = _read(request, c)
    if s is None or not s.logged_in or not await _key_active(c, s.key_id):
        return Response("login required", status_code=401)
    await c.monitor.settings(drop_id)
    response: Response = sse_response(request, lambda: c.monitor.shared_snapshot(drop_id))
    return response


@router.get("/drops/{drop_id}/report")
async def report_page(drop_id: str, request: Request, c: ContainerDep) -> Response:
    s = await require_login(request, c)
    report = await c.reports.build(drop_id)
    return page(request, "report.html", s, report=report, chart=sales_chart(report["timeline"]))


# --------------------------------------------------------------------------- actions
def _back(drop_id: str, message: str, level: str = "info") -> Response:
    return RedirectResponse(
        f"/ui/drops/{drop_id}?flash={quote(message)}&level={level}", status_code=303
    )


@router.post("/drops/{drop_id}/skus/{sku_id}/{action}")
async def sku_action(
    drop_id: str,
    sku_id: str,
    action: str,
    request: Request,
    c: ContainerDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    await require_post(request, c, csrf_token)
    if action not in ("pause", "resume"):
        return Response("unknown action", status_code=404)
    try:
        await c.drops.pause_sku(drop_id, sku_id, action == "pause")
    except DroplineError as exc:
        return _back(drop_id, exc.detail, "error")
    label = sku_id
    catalog = await c.drops.cache.get(drop_id)
    if sku_id in catalog.skus:
        label = catalog.skus[sku_id].label()
    return _back(drop_id, f"{label} {'paused' if action == 'pause' else 'resumed'}")


@router.post("/drops/{drop_id}/transition")
async def drop_transition(
    drop_id: str,
    request: Request,
    c: ContainerDep,
    to: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    s = await require_post(request, c, csrf_token)
    try:
        await c.drops.transition(drop_id, DropStatus(to), actor=s.name)
    except ValueError:
        return _back(drop_id, f"unknown status {to!r}", "error")
    except DroplineError as exc:
        return _back(drop_id, exc.detail, "error")
    return _back(drop_id, f"drop is now {to}")


# --------------------------------------------------------------------------- wiring
def install(app: FastAPI) -> None:
    """Add the pages, their static files and their redirects to ``app``."""

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(f"/ui/login?next={quote(exc.next_url)}", status_code=303)

    async def csrf_failed(request: Request, exc: Exception) -> Response:
        return HTMLResponse(
            "<p>The form expired or did not come from this site. Go back and try again.</p>",
            status_code=403,
        )

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfFailed, csrf_failed)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.include_router(router)
    from dropline.web.ops_pages import router as ops_router  # imports this module

    app.include_router(ops_router)

"""``/ui`` login and logout with an ops or admin key, and the audit trail (admin)."""

from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from dropline.api.deps import ContainerDep
from dropline.domain.errors import Forbidden, Unauthenticated
from dropline.web import common
from dropline.web import session as sess
from dropline.web.common import (
    CsrfFailed,
    page,
    read_session,
    require_login,
    require_post,
    safe_next,
    set_session_cookie,
)

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/login")
async def login_form(request: Request, c: ContainerDep, next: str = "/ui") -> Response:
    s = read_session(request, c) or sess.new_session(now=c.clock.now())
    response = page(request, "login.html", None, csrf=s.csrf, next=safe_next(next), error=None)
    set_session_cookie(response, request, c, s)
    return response


@router.post("/login")
async def login(
    request: Request,
    c: ContainerDep,
    api_key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/ui",
) -> Response:
    pre = read_session(request, c)
    if not sess.csrf_ok(pre, csrf_token):
        raise CsrfFailed()
    assert pre is not None
    address = request.client.host if request.client else "unknown"
    wait = c.login_attempts.retry_after(address, time.monotonic())
    if wait:
        detail = f"Too many failed logins from this address; try again in {math.ceil(wait)} s."
        refused = page(
            request, "login.html", None, csrf=pre.csrf, next=safe_next(next), error=detail
        )
        refused.status_code = 429
        refused.headers["Retry-After"] = str(math.ceil(wait))
        return refused
    try:
        principal = await c.access.authenticate(api_key.strip())
        principal.require("ops")
    except (Unauthenticated, Forbidden) as exc:
        c.login_attempts.failed(address, time.monotonic())
        detail = (
            "This key cannot use the web pages: an ops or admin key is needed."
            if isinstance(exc, Forbidden)
            else "Unknown or revoked API key."
        )
        refused = page(
            request, "login.html", None, csrf=pre.csrf, next=safe_next(next), error=detail
        )
        refused.status_code = 401 if isinstance(exc, Unauthenticated) else 403
        return refused
    c.login_attempts.succeeded(address)
    s = sess.new_session(principal.key_id, principal.name, principal.scope, c.clock.now())
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, request, c, s)
    return response


@router.post("/logout")
async def logout(
    request: Request, c: ContainerDep, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    s = read_session(request, c)
    if not sess.csrf_ok(s, csrf_token):
        raise CsrfFailed()
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(sess.COOKIE, path="/ui")
    return response


@router.post("/sessions/sign-out-everywhere")
async def sign_out_everywhere(
    request: Request, c: ContainerDep, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """End every /ui session of the logged-in key, in every browser, this one included."""
    s = await require_post(request, c, csrf_token)
    await c.ui_sessions.sign_out_everywhere(s.key_id)
    response = RedirectResponse(
        "/ui/login?flash=Signed%20out%20in%20every%20browser.", status_code=303
    )
    response.delete_cookie(sess.COOKIE, path="/ui")
    return response


@router.get("/audit")
async def audit_page(
    request: Request,
    c: ContainerDep,
    actor_id: str = "",
    action: str = "",
    resource_id: str = "",
    before: int | None = None,
) -> Response:
    """The audit trail, newest first, filtered by actor, action (a prefix ending in
    ``.`` matches a whole family) and resource; an admin login only."""
    s = await require_login(request, c)
    if s.scope != "admin":
        return page(request, "audit.html", s, forbidden=True, entries=[], filters={}, nxt=None)
    entries, nxt = await c.audit.list(
        actor_id=actor_id or None,
        action=action or None,
        resource_id=resource_id or None,
        before=before,
        limit=common.PAGE_ROWS,
    )
    filters = {"actor_id": actor_id, "action": action, "resource_id": resource_id}
    return page(
        request, "audit.html", s, forbidden=False, entries=entries, filters=filters, nxt=nxt
    )

"""Wires the ``/ui`` pages into the app: every page module's router, the static files,
and the login and CSRF redirects. The only web module that knows them all."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from dropline.web import (
    aftersales,
    counts,
    docs,
    fulfilment,
    insight,
    live,
    planning,
    platform,
    quality,
    readiness,
)
from dropline.web.common import (
    CsrfFailed,
    LoginRequired,
)
from dropline.web.headers import SecurityHeaders
from dropline.web.render import STATIC


def install(app: FastAPI) -> None:
    """Add the pages, their static files, the offline API docs, their security headers
    and their redirects to ``app``."""

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
    for module in (
        platform,
        live,
        insight,
        fulfilment,
        aftersales,
        planning,
        quality,
        counts,
        readiness,
    ):
        app.include_router(module.router)
    docs.install(app)
    app.add_middleware(SecurityHeaders)

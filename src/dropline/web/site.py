"""Wires the ``/ui`` pages into the app: every page module's router, the static files,
and the login and CSRF redirects. The only web module that knows them all."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from dropline.api.errors import domain_problem, http_problem, problem_headers, problem_response
from dropline.domain.errors import DroplineError, NotFound
from dropline.web import (
    access,
    aftersales,
    aftersales_report,
    catalog,
    counts,
    docs,
    drop_setup,
    fulfilment,
    insight,
    live,
    planning,
    platform,
    quality,
    readiness,
    waitlist,
)
from dropline.web.common import (
    CsrfFailed,
    LoginRequired,
    error_page,
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

    def is_page(request: Request) -> bool:
        path = request.url.path
        return (path == "/ui" or path.startswith("/ui/")) and not path.startswith("/ui/static")

    async def domain_error(request: Request, exc: Exception) -> Response:
        """A page asked for something that is not there (an unknown drop id, ...):
        a readable "Not found" page; every other error, and the API, keep their
        problem+json (``api/errors.py``)."""
        assert isinstance(exc, DroplineError)
        status, body = domain_problem(exc, request.url.path)
        if is_page(request) and isinstance(exc, NotFound):
            return error_page(request, status, exc.detail)
        return problem_response(status, body, problem_headers(status, exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if is_page(request) and exc.status_code in (404, 405):
            return error_page(request, exc.status_code, "There is no such page.")
        return http_problem(request, exc)

    app.add_exception_handler(DroplineError, domain_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfFailed, csrf_failed)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    for module in (
        platform,
        live,
        drop_setup,
        access,
        waitlist,
        catalog,
        insight,
        fulfilment,
        aftersales,
        aftersales_report,
        planning,
        quality,
        counts,
        readiness,
    ):
        app.include_router(module.router)
    docs.install(app)
    app.add_middleware(SecurityHeaders)

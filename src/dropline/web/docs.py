"""``/docs`` (Swagger UI) served with no network: the assets come from the
``fastapi-offline`` package (a maintained copy of Swagger UI), the page from our
template, and it has no inline script, so the Content-Security-Policy of
``web/headers.py`` applies to it unchanged. ``/redoc`` goes to ``/docs``: ReDoc's
bundle always loads its footer logo from a CDN, which the policy (rightly) blocks.
``/`` sends a browser to ``/ui``."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from dropline.web.render import env

router = APIRouter(include_in_schema=False)
OPENAPI_URL = "/openapi.json"


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(env().get_template("docs.html").render(openapi_url=OPENAPI_URL))


@router.get("/redoc")
async def redoc() -> RedirectResponse:
    return RedirectResponse("/docs", status_code=307)


@router.get("/")
async def index(request: Request) -> Response:
    """A browser goes to the console; an API client gets where things are."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/ui", status_code=307)
    return JSONResponse({"ui": "/ui", "docs": "/docs", "openapi": OPENAPI_URL})


def install(app: FastAPI) -> None:
    """Mount the offline assets and the pages."""
    assets = resources.files("fastapi_offline").joinpath("static")
    app.mount("/docs/static", StaticFiles(directory=str(assets)), name="docs-static")
    app.include_router(router)

"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from dropline.api.deps import ContainerDep
from dropline.config import unsafe_warnings
from dropline.store.db import current_revision, head_revision

router = APIRouter(tags=["health"])


class ReadyOut(BaseModel):
    ready: bool
    checks: dict[str, str]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"description": "not ready: see the failing checks", "model": ReadyOut}},
)
async def readyz(c: ContainerDep) -> JSONResponse:
    """Database, engine and payment provider reachable, migrations current; ``warnings``
    lists what is allowed but unsafe (a development secret on a deployment)."""
    checks: dict[str, Any] = {}
    try:
        rev = await current_revision(c.db)
        checks["database"] = "ok" if rev == head_revision() else f"migrations at {rev}"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    for name, probe in (("engine", c.engine.ping), ("payments", c.provider.ping)):
        try:
            await probe()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body = {"ready": ready, "checks": checks, "warnings": unsafe_warnings(c.settings)}
    return JSONResponse(body, status_code=200 if ready else 503)

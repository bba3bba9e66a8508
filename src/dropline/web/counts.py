"""``/ui`` count sessions: the list, and each session's count report (with its CSV).

A blind session's figures are hidden from the one who counted them while it is open,
exactly as in the API (``services/stock/counts.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from dropline.api.deps import ContainerDep
from dropline.services.stock.counts import render_count_csv
from dropline.web.common import page, require_login

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/counts")
async def counts_page(request: Request, c: ContainerDep, status: str = "") -> Response:
    s = await require_login(request, c)
    sessions = await c.counts.list_sessions(status if status in ("open", "closed") else None)
    return page(request, "counts.html", s, sessions=sessions, status=status)


@router.get("/counts/{session_id}")
async def count_page(session_id: str, request: Request, c: ContainerDep) -> Response:
    s = await require_login(request, c)
    report = await c.counts.get(session_id, viewer=s.name)
    return page(request, "count.html", s, report=report)


@router.get("/counts/{session_id}/report.csv")
async def count_csv(session_id: str, request: Request, c: ContainerDep) -> Response:
    s = await require_login(request, c)
    report = await c.counts.get(session_id, viewer=s.name)
    return PlainTextResponse(
        render_count_csv(report),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="count-{session_id}.csv"'},
    )

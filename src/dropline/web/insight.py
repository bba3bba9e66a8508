"""``/ui`` live monitor (with its SSE stream), the post-stream report and the lessons
across drops."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from dropline.api.deps import ContainerDep
from dropline.api.sse import sse_response
from dropline.domain.insight.funnel import DEFAULT_LIFT_WINDOW_S
from dropline.domain.live.drops import DropStatus
from dropline.web import common
from dropline.web.common import (
    key_active,
    page,
    read_session,
    require_login,
)
from dropline.web.live import DROP_ACTIONS
from dropline.web.render import lesson_charts, report_chart
from dropline.web.velocity import CHARTS

router = APIRouter(prefix="/ui", include_in_schema=False)

if ("Lessons", "/ui/lessons") not in common.NAV:
    common.NAV.append(("Lessons", "/ui/lessons"))


@router.get("/drops/{drop_id}")
async def monitor_page(drop_id: str, request: Request, c: ContainerDep) -> Response:
    s = await require_login(request, c)
    snap = await c.monitor.snapshot(drop_id)
    status = DropStatus(snap["drop"]["status"])
    actions = list(DROP_ACTIONS[status])
    if status is not DropStatus.ENDED:
        actions.append(("ended", "End drop", "danger"))

    async def points() -> list[dict[str, Any]]:
        return list(snap["velocity"]["points"])

    chart = await CHARTS.svg(drop_id, points)
    return page(request, "monitor.html", s, snap=snap, drop_actions=actions, chart=chart)


@router.get("/drops/{drop_id}/monitor/velocity.svg")
async def velocity_svg(drop_id: str, request: Request, c: ContainerDep) -> Response:
    """The monitor's units-per-minute chart as an SVG document (``web/velocity.py``:
    redrawn at most every 5 s per drop, whoever asks). The monitor page fetches it when
    the stream's minute buckets change. 401 without a login, like the stream."""
    s = read_session(request, c)
    if s is None or not s.logged_in or not await key_active(c, s.key_id):
        return Response("login required", status_code=401)

    async def points() -> list[dict[str, Any]]:
        snap = await c.monitor.shared_snapshot(drop_id)
        return list(snap["velocity"]["points"])

    svg = await CHARTS.svg(drop_id, points)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})


@router.get("/drops/{drop_id}/events")
async def monitor_events(drop_id: str, request: Request, c: ContainerDep) -> Response:
    """The monitor's SSE stream for a logged-in browser (same body as the ops stream)."""
    s = read_session(request, c)
    if s is None or not s.logged_in or not await key_active(c, s.key_id):
        return Response("login required", status_code=401)
    await c.monitor.settings(drop_id)
    response: Response = sse_response(request, lambda: c.monitor.shared_snapshot(drop_id))
    return response


@router.get("/drops/{drop_id}/report")
async def report_page(drop_id: str, request: Request, c: ContainerDep) -> Response:
    s = await require_login(request, c)
    report = await c.reports.build(drop_id)
    # matplotlib draws in a worker thread: tens of milliseconds the event loop keeps
    chart = await run_in_threadpool(report_chart, report)
    return page(request, "report.html", s, report=report, chart=chart)


@router.get("/lessons")
async def lessons_page(
    request: Request,
    c: ContainerDep,
    drop_id: Annotated[list[str] | None, Query(max_length=50)] = None,
    cue_window_s: Annotated[int, Query(ge=60, le=3600)] = DEFAULT_LIFT_WINDOW_S,
) -> Response:
    s = await require_login(request, c)
    chosen = [d for d in drop_id or [] if d.strip()]
    drops = await c.drops.list_drops()
    lessons = await c.lessons.across(chosen, cue_window_s) if chosen else None
    charts = await run_in_threadpool(lesson_charts, lessons) if lessons else {}
    return page(
        request,
        "lessons.html",
        s,
        drops=drops,
        chosen=chosen,
        lessons=lessons,
        charts=charts,
        cue_window_s=cue_window_s,
    )

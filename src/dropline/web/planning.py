"""``/ui`` launches: the list with a form to start one, and a launch's page with its
alerts, the Gantt chart of the critical path and slack, the timeline (record the day a
milestone is reached), the scorecard with proposals and the stress test, the latest
first-run scenario, and the iCalendar export."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dropline.api.deps import ContainerDep
from dropline.domain.errors import DroplineError
from dropline.web import common
from dropline.web.common import page, require_login, require_post
from dropline.web.gantt import gantt_svg

router = APIRouter(prefix="/ui", include_in_schema=False)

if ("Launches", "/ui/launches") not in common.NAV:
    common.NAV.append(("Launches", "/ui/launches"))


@router.get("/launches")
async def launches_page(request: Request, c: ContainerDep) -> Response:
    s = await require_login(request, c)
    return page(request, "launches.html", s, launches=await c.launches.launches())


@router.post("/launches")
async def create_launch(
    request: Request,
    c: ContainerDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    stream_date: Annotated[str, Form(max_length=10)] = "",
    buffer_days: Annotated[str, Form(max_length=3)] = "7",
    concept: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    s = await require_post(request, c, csrf_token)
    try:
        launch = await c.launches.create(
            name,
            stream_date=date.fromisoformat(stream_date),
            buffer_days=int(buffer_days or 7),
            concept=concept,
            actor=s.name,
        )
        return RedirectResponse(f"/ui/launches/{launch['id']}", 303)
    except (DroplineError, ValueError) as exc:
        message = getattr(exc, "detail", None) or f"check the dates and numbers ({exc})"
        return RedirectResponse(f"/ui/launches?flash={quote(message)}&level=error", 303)


@router.get("/launches/{launch_id}")
async def launch_page(request: Request, launch_id: str, c: ContainerDep) -> Response:
    s = await require_login(request, c)
    launch = await c.launches.get(launch_id)
    card = await c.launch_scores.scorecard(launch_id)
    # matplotlib draws in a worker thread: tens of milliseconds the event loop keeps
    gantt = await run_in_threadpool(gantt_svg, launch["timeline"], c.launches.today())
    return page(request, "launch.html", s, launch=launch, card=card, gantt=gantt)


@router.post("/launches/{launch_id}/milestones/{key}")
async def record_milestone(
    request: Request,
    launch_id: str,
    key: str,
    c: ContainerDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    actual_finish: Annotated[str, Form(max_length=10)] = "",
    owner: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Record the day a milestone was reached (and its owner); the chain re-plans."""
    s = await require_post(request, c, csrf_token)
    try:
        await c.launches.set_milestone(
            launch_id,
            key,
            actor=s.name,
            actual_finish=date.fromisoformat(actual_finish) if actual_finish else None,
            owner=owner if owner else None,
            reason="recorded in the ops view",
        )
        message, level = f"{key} saved; the timeline is re-planned", "info"
    except (DroplineError, ValueError) as exc:
        message, level = getattr(exc, "detail", None) or f"not a date: {exc}", "error"
    return RedirectResponse(f"/ui/launches/{launch_id}?flash={quote(message)}&level={level}", 303)


@router.get("/launches/{launch_id}/calendar.ics")
async def launch_calendar(request: Request, launch_id: str, c: ContainerDep) -> Response:
    await require_login(request, c)
    return Response(
        await c.launches.calendar(launch_id),
        media_type="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="{launch_id}.ics"'},
    )

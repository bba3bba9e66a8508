"""Launches (ops): the plan behind a drop; its timeline built backward from the stream,
its scorecard and its first-run scenarios; and the stand-alone first-run answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from dropline.api.deps import ContainerDep, Ops
from dropline.api.plain import plain_dict, plain_list
from dropline.api.routers.planning.schemas import (
    FirstRunIn,
    LaunchIn,
    LaunchPatch,
    MilestonePatch,
    ScorecardIn,
    TimelineIn,
)
from dropline.domain.planning.scorecard import Score, Thresholds

router = APIRouter(prefix="/v1", tags=["planning"])


@router.post("/launches", status_code=201)
async def create_launch(body: LaunchIn, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """Create a launch toward its stream date with the standard timeline (the seeds'
    critical path), an empty one, or the given milestones. 422 and nothing stored for a
    stream date in the past, a dependency cycle (``dependency_cycle``, the cycle named),
    an unknown dependency or a negative duration."""
    launch = await c.launches.create(
        body.name,
        stream_date=body.stream_date,
        actor=who.name,
        start_date=body.start_date,
        buffer_days=body.buffer_days,
        business_days=body.business_days,
        country=body.country,
        concept=body.concept,
        product_id=body.product_id,
        run_id=body.run_id,
        drop_id=body.drop_id,
        buffer_units=body.buffer_units,
        min_margin_pct=body.min_margin_pct,
        template=body.template,
        milestones=[m.step() for m in body.milestones] if body.milestones is not None else None,
    )
    return plain_dict(launch)


@router.get("/launches")
async def list_launches(c: ContainerDep, _: Ops) -> list[dict[str, Any]]:
    """Every launch, soonest stream first, with its verdict, plan health and alerts."""
    return plain_list(await c.launches.launches())


@router.get("/launches/{launch_id}")
async def get_launch(launch_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """The launch: planned timeline, latest scorecard and scenario, alerts."""
    return plain_dict(await c.launches.get(launch_id))


@router.patch("/launches/{launch_id}")
async def update_launch(
    launch_id: str, body: LaunchPatch, c: ContainerDep, who: Ops
) -> dict[str, Any]:
    """Change the stream date, buffer, calendar or links; the plan follows."""
    links = {"product_id", "run_id", "drop_id"}  # null or "" removes a link
    fields = {
        k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None or k in links
    }
    return plain_dict(await c.launches.update(launch_id, actor=who.name, **fields))


@router.get("/launches/{launch_id}/timeline")
async def get_timeline(launch_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """The critical-path plan: per milestone the earliest and latest start and finish,
    slack and the critical flag; the plan's finish, slack, feasibility and shortfall."""
    return plain_dict(await c.launches.timeline(launch_id))


@router.put("/launches/{launch_id}/timeline")
async def set_timeline(
    launch_id: str, body: TimelineIn, c: ContainerDep, who: Ops
) -> dict[str, Any]:
    """Replace the whole timeline (validated whole; nothing stored on bad input)."""
    steps = [m.step() for m in body.milestones]
    return plain_dict(await c.launches.set_timeline(launch_id, steps, actor=who.name))


@router.patch("/launches/{launch_id}/milestones/{key}")
async def set_milestone(
    launch_id: str, key: str, body: MilestonePatch, c: ContainerDep, who: Ops
) -> dict[str, Any]:
    """Change a milestone or record the day it was reached, and re-plan. A milestone
    tied to the linked run records its actual date on the run, and the run's unfinished
    milestones move to the new plan (a moved warehouse intake re-estimates pre-orders
    and sends delay notices)."""
    timeline = await c.launches.set_milestone(
        launch_id,
        key,
        actor=who.name,
        name=body.name,
        duration_days=body.duration_days,
        depends_on=body.depends_on,
        owner=body.owner,
        actual_finish=body.actual_finish,
        clear_actual=body.clear_actual,
        reason=body.reason,
    )
    return plain_dict(timeline)


@router.get("/launches/{launch_id}/calendar.ics")
async def calendar(launch_id: str, c: ContainerDep, _: Ops) -> Response:
    """The timeline as iCalendar: one all-day event per milestone, and the stream."""
    return Response(
        await c.launches.calendar(launch_id),
        media_type="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="{launch_id}.ics"'},
    )


@router.put("/launches/{launch_id}/scorecard")
async def score(launch_id: str, body: ScorecardIn, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """Store a new version of the scorecard: every variable 1–5 with a note, weights
    (default equal), thresholds (default go 70, review 50), and why."""
    t = body.thresholds
    card = await c.launch_scores.score(
        launch_id,
        {k: Score(v.score, v.note) for k, v in body.scores.items()},
        actor=who.name,
        reason=body.reason,
        weights=body.weights,
        thresholds=Thresholds(t.go_at, t.review_at) if t else None,
    )
    return plain_dict(card)


@router.get("/launches/{launch_id}/scorecard")
async def get_scorecard(launch_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """The current scorecard, the scores dropline proposes from evidence, and the stress
    test (14-day delay, colour variation, 3 % defects), each with its numbers."""
    return plain_dict(await c.launch_scores.scorecard(launch_id))


@router.get("/launches/{launch_id}/scorecard/history")
async def scorecard_history(launch_id: str, c: ContainerDep, _: Ops) -> list[dict[str, Any]]:
    """Every version, newest first, with who changed it and why."""
    return plain_list(await c.launch_scores.scorecard_history(launch_id))


@router.post("/launches/{launch_id}/scenarios", status_code=201)
async def add_scenario(
    launch_id: str, body: FirstRunIn, c: ContainerDep, who: Ops
) -> dict[str, Any]:
    """Solve and save a first-run scenario on the launch (see ``/v1/planning/first-run``)."""
    return plain_dict(await c.launch_scores.add_scenario(launch_id, body.request(), actor=who.name))


@router.get("/launches/{launch_id}/scenarios")
async def list_scenarios(launch_id: str, c: ContainerDep, _: Ops) -> list[dict[str, Any]]:
    return plain_list(await c.launch_scores.scenarios(launch_id))


@router.post("/planning/first-run")
async def first_run(body: FirstRunIn, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """The newsvendor answer, nothing stored: ``critical_ratio`` = (price − cost) /
    (price − salvage), ``first_run_quantity`` (the smallest quantity whose demand
    probability reaches it), the MOQ ``decision`` (``order``, ``order_moq`` or
    ``pre_sell_first``), and for worst, expected and best demand made and the first-run
    quantity: expected sales, leftover, stock-out probability, expected profit and cash
    tied up. 422 for a cost above the price, a salvage value above the cost, or a
    standard deviation of zero with no three-point fallback."""
    return plain_dict(c.launch_scores.first_run(body.request()))

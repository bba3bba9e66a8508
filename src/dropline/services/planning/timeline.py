"""A launch's timeline as stored, planned: its milestones, their actual dates (the
linked run's, for milestones tied to it) and the critical-path plan, as plain dicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from dropline.domain.errors import InvalidInput, NotFound
from dropline.domain.planning.schedule import Activity, Plan, WorkCalendar, plan, validate
from dropline.domain.planning.template import Step
from dropline.domain.supply.production import Milestone as RunMilestone
from dropline.services.planning.calendars import work_calendar
from dropline.store.uow import UnitOfWork

MAX_NAME = 200
MAX_OWNER = 200
MAX_TEXT = 2000


def text(value: str, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    """``value`` trimmed, or ``InvalidInput`` when required and empty or too long."""
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{field} is required", field=field)
    if len(value) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters", field=field)
    return value


async def get_launch(uow: UnitOfWork, launch_id: str, *, lock: bool = False) -> dict[str, Any]:
    """The launch row, or ``NotFound``."""
    launch = await uow.launches.get(launch_id, lock=lock)
    if launch is None:
        raise NotFound(f"launch {launch_id} not found", launch_id=launch_id)
    return launch


@dataclass(frozen=True)
class Loaded:
    """A launch with its timeline rows, actual dates, calendar and plan (None while the
    timeline is empty)."""

    launch: dict[str, Any]
    rows: list[dict[str, Any]]
    actuals: dict[str, date | None]
    calendar: WorkCalendar
    plan: Plan | None
    run_milestones: dict[str, dict[str, Any]]


def clean_steps(steps: Sequence[Step]) -> list[Step]:
    """Trim and check what a creator typed: names, owners, the run milestone each step
    is tied to (a known kind, at most one step per kind), then the timeline as a whole
    (keys, durations, dependencies, cycles)."""
    out: list[Step] = []
    tied: dict[str, str] = {}
    kinds = {m.value for m in RunMilestone}
    for s in steps:
        name = s.name.strip() or s.key.replace("_", " ").capitalize()
        owner = s.owner.strip()
        if len(name) > MAX_NAME or len(owner) > MAX_OWNER:
            raise InvalidInput(f"milestone {s.key}: name or owner is too long", key=s.key)
        run_ms = s.run_milestone or None
        if run_ms is not None:
            if run_ms not in kinds:
                raise InvalidInput(
                    f"milestone {s.key}: run_milestone must be one of " + ", ".join(sorted(kinds)),
                    field="run_milestone",
                    key=s.key,
                )
            if run_ms in tied:
                raise InvalidInput(
                    f"milestones {tied[run_ms]} and {s.key} are both tied to the run's {run_ms}",
                    field="run_milestone",
                )
            tied[run_ms] = s.key
        deps = tuple(dict.fromkeys(d.strip() for d in s.depends_on))
        out.append(Step(s.key.strip(), name, s.duration_days, deps, owner, run_ms))
    validate([Activity(s.key, s.duration_days, s.depends_on) for s in out])
    return out


def step_of(row: Mapping[str, Any]) -> Step:
    return Step(
        row["key"],
        row["name"],
        int(row["duration_days"]),
        tuple(row["depends_on"] or ()),
        row["owner"],
        row["run_milestone"],
    )


def row_of(step: Step, actual: date | None = None) -> dict[str, Any]:
    return {
        "key": step.key,
        "name": step.name,
        "duration_days": step.duration_days,
        "depends_on": list(step.depends_on),
        "owner": step.owner,
        "run_milestone": step.run_milestone,
        "actual_finish": actual,
    }


def utc_date(value: datetime | None) -> date | None:
    return value.astimezone(UTC).date() if value is not None else None


async def load(uow: UnitOfWork, launch: dict[str, Any], today: date) -> Loaded:
    """Read the launch's timeline and plan it as of ``today``. A milestone tied to the
    linked run takes the run's actual date when the run has one."""
    rows = await uow.launches.milestones(launch["id"])
    run_ms: dict[str, dict[str, Any]] = {}
    if launch["run_id"]:
        run_ms = await uow.production.milestones(launch["run_id"])
    actuals: dict[str, date | None] = {}
    for r in rows:
        from_run = utc_date(run_ms.get(r["run_milestone"] or "", {}).get("actual_at"))
        actuals[r["key"]] = from_run or r["actual_finish"]
    cal = work_calendar(
        bool(launch["business_days"]),
        launch["country"],
        launch["start_date"],
        launch["stream_date"],
    )
    planned = None
    if rows:
        planned = plan(
            [
                Activity(
                    r["key"], int(r["duration_days"]), tuple(r["depends_on"]), actuals[r["key"]]
                )
                for r in rows
            ],
            start=launch["start_date"],
            stream=launch["stream_date"],
            buffer_days=int(launch["buffer_days"]),
            calendar=cal,
            as_of=today,
        )
    return Loaded(launch, rows, actuals, cal, planned, run_ms)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def plan_view(loaded: Loaded) -> dict[str, Any]:
    """The timeline as JSON-ready data: the plan's dates and verdict, then every
    milestone with its owner, both passes, slack and flags."""
    launch, p = loaded.launch, loaded.plan
    head: dict[str, Any] = {
        "start_date": _iso(launch["start_date"]),
        "stream_date": _iso(launch["stream_date"]),
        "buffer_days": int(launch["buffer_days"]),
        "day_unit": loaded.calendar.unit,
        "country": launch["country"] or None,
    }
    if p is None:
        return head | {
            "deadline": None,
            "finish": None,
            "slack_days": None,
            "slack_to_stream_days": None,
            "feasible": None,
            "shortfall_days": None,
            "critical_path": [],
            "overdue": [],
            "milestones": [],
        }
    milestones = []
    for r in loaded.rows:  # in the creator's order
        m = p.get(r["key"])
        milestones.append(
            {
                "key": m.key,
                "name": r["name"],
                "owner": r["owner"],
                "duration_days": m.duration,
                "depends_on": list(m.depends_on),
                "run_milestone": r["run_milestone"],
                "earliest_start": _iso(m.earliest_start),
                "earliest_finish": _iso(m.earliest_finish),
                "latest_start": _iso(m.latest_start),
                "latest_finish": _iso(m.latest_finish),
                "slack_days": m.slack_days,
                "critical": m.critical,
                "done": m.done,
                "actual_finish": _iso(m.actual_finish),
                "overdue": m.overdue,
                "due": _iso(m.due),
            }
        )
    return head | {
        "deadline": _iso(p.deadline),
        "finish": _iso(p.finish),
        "slack_days": p.slack_days,
        "slack_to_stream_days": p.slack_days + p.buffer_days,
        "feasible": p.feasible,
        "shortfall_days": p.shortfall_days,
        "critical_path": list(p.critical_path),
        "overdue": list(p.overdue),
        "milestones": milestones,
    }

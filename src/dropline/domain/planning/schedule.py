"""The critical-path method: a launch's timeline planned backward from the stream.

Pure domain: standard library only. A timeline is a set of milestones, each the finish
of an activity with a duration in days and the milestones it waits for. ``plan`` runs
the classic two passes (Kelley & Walker's CPM, as taught in e.g. Heizer & Render,
*Operations Management*, ch. "Project Management"):

- the **forward pass** from the start date gives each milestone's earliest start and
  finish (an actual finish date, once recorded, replaces the estimate; a milestone that
  is not done cannot finish before ``as_of``, so a slip moves everything after it);
- the **backward pass** from ``stream date − buffer`` gives the latest start and finish;
- ``slack = latest start − earliest start``; the milestones with the least slack form
  the critical path; the plan is infeasible, with the shortfall in days, when the
  earliest finish lies after ``stream − buffer`` (some slack is negative).

Times are whole days counted on a ``WorkCalendar``: calendar days, or business days
(weekends and the given holidays skipped). Internally a day number ``t`` is the start
of the t-th working day after the start date; dates follow the usual scheduling-tool
convention: a start date is the first working day of the work, a finish date the last
(a 5-day activity starting Monday 1 June finishes Friday 5 June), a zero-day milestone
sits on the finish of what it waits for, and an actual date says the milestone was
reached by the end of that day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from dropline.domain.errors import DependencyCycle, InvalidInput

MAX_DURATION_DAYS = 3650
MAX_BUFFER_DAYS = 365
MAX_MILESTONES = 100
# Business-day arithmetic walks day by day; no plan spans more than this.
MAX_SPAN_DAYS = 20 * 366


@dataclass(frozen=True)
class WorkCalendar:
    """Which days count. Calendar days by default; with ``business_days`` the weekend
    (Saturday and Sunday unless told) and ``holidays`` are skipped."""

    business_days: bool = False
    holidays: frozenset[date] = frozenset()
    weekend: frozenset[int] = frozenset({5, 6})

    @property
    def unit(self) -> str:
        return "business" if self.business_days else "calendar"

    def is_workday(self, d: date) -> bool:
        if not self.business_days:
            return True
        return d.weekday() not in self.weekend and d not in self.holidays

    def index(self, start: date, d: date) -> int:
        """Working days in ``[start, d)``, negative (the days in ``[d, start)``) when
        ``d`` is before ``start``. A non-working ``d`` counts as the next working day."""
        if not self.business_days:
            return (d - start).days
        if abs((d - start).days) > MAX_SPAN_DAYS:
            raise InvalidInput("a timeline cannot span more than 20 years")
        lo, hi, sign = (start, d, 1) if d >= start else (d, start, -1)
        n, day = 0, lo
        while day < hi:
            n += self.is_workday(day)
            day += timedelta(days=1)
        return sign * n

    def finish_date(self, start: date, t: int) -> date:
        """The date a piece of work that is done by day number ``t`` is finished: the
        last working day before ``t``."""
        return self.date_at(start, t - 1)

    def finish_index(self, start: date, d: date) -> int:
        """The day number of work finished by the end of ``d``."""
        return self.index(start, d + timedelta(days=1))

    def date_at(self, start: date, t: int) -> date:
        """The date of day number ``t``: the t-th working day on or after ``start``
        (day 0 is the first working day on or after it); before it when negative."""
        if not self.business_days:
            return start + timedelta(days=t)
        if abs(t) > MAX_SPAN_DAYS:
            raise InvalidInput("a timeline cannot span more than 20 years")
        day = start
        while not self.is_workday(day):
            day += timedelta(days=1)
        step = 1 if t >= 0 else -1
        left = abs(t)
        while left:
            day += timedelta(days=step)
            if self.is_workday(day):
                left -= 1
        return day


@dataclass(frozen=True)
class Activity:
    """One milestone of a timeline: ``key`` is reached ``duration`` days after the last
    of ``depends_on`` is. ``actual_finish`` is the date it was really reached."""

    key: str
    duration: int
    depends_on: tuple[str, ...] = ()
    actual_finish: date | None = None


@dataclass(frozen=True)
class Scheduled:
    """One milestone after both passes; day numbers (``es``...) and their dates."""

    key: str
    duration: int
    depends_on: tuple[str, ...]
    es: int
    ef: int
    ls: int
    lf: int
    earliest_start: date
    earliest_finish: date
    latest_start: date
    latest_finish: date
    slack_days: int
    critical: bool
    done: bool
    actual_finish: date | None
    overdue: bool
    due: date  # when it should be reached given what is done: an overdue alert's date


@dataclass(frozen=True)
class Plan:
    """A timeline planned: every milestone, the finish of the whole chain, and whether it
    fits before ``stream − buffer`` (``deadline``)."""

    start: date
    stream: date
    buffer_days: int
    deadline: date
    finish: date
    slack_days: int  # deadline − finish, in the calendar's days; negative = shortfall
    feasible: bool
    shortfall_days: int
    unit: str
    milestones: tuple[Scheduled, ...]
    critical_path: tuple[str, ...]
    overdue: tuple[str, ...] = field(default=())

    def get(self, key: str) -> Scheduled:
        for m in self.milestones:
            if m.key == key:
                return m
        raise KeyError(key)


def check_stream_date(stream: date, today: date) -> None:
    """A launch plans toward a stream that has not happened yet."""
    if stream < today:
        raise InvalidInput(
            f"the stream date {stream.isoformat()} is in the past (today is {today.isoformat()})",
            field="stream_date",
        )


def validate(activities: Sequence[Activity]) -> list[str]:
    """Check a timeline and return its keys in a dependency order (every milestone after
    the ones it waits for; ties by key, so the order is deterministic).

    ``InvalidInput`` for an empty or duplicate key, a negative or huge duration, an
    unknown dependency; ``DependencyCycle`` naming the cycle (``a → b → a``)."""
    if len(activities) > MAX_MILESTONES:
        raise InvalidInput(f"a timeline has at most {MAX_MILESTONES} milestones")
    by_key: dict[str, Activity] = {}
    for a in activities:
        if not a.key or len(a.key) > 40:
            raise InvalidInput("a milestone key is 1 to 40 characters", field="key")
        if a.key in by_key:
            raise InvalidInput(f"milestone {a.key} appears twice", field="key", key=a.key)
        if a.duration < 0:
            raise InvalidInput(
                f"milestone {a.key} has a negative duration ({a.duration} days)",
                field="duration_days",
                key=a.key,
            )
        if a.duration > MAX_DURATION_DAYS:
            raise InvalidInput(
                f"milestone {a.key} lasts more than {MAX_DURATION_DAYS} days",
                field="duration_days",
                key=a.key,
            )
        by_key[a.key] = a
    for a in activities:
        for dep in a.depends_on:
            if dep not in by_key:
                raise InvalidInput(
                    f"milestone {a.key} depends on {dep}, which is not in the timeline",
                    field="depends_on",
                    key=a.key,
                    dependency=dep,
                )
    cycle = find_cycle({a.key: a.depends_on for a in activities})
    if cycle:
        raise DependencyCycle(
            "the timeline has a dependency cycle: " + " → ".join(cycle), cycle=cycle
        )
    return _order(by_key)


def find_cycle(deps: Mapping[str, Iterable[str]]) -> list[str]:
    """One dependency cycle as ``[a, b, ..., a]`` (a milestone waiting for itself
    through the others), or ``[]`` when there is none. Keys are visited in sorted
    order so the same timeline always names the same cycle."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(deps, white)
    path: list[str] = []

    def visit(key: str) -> list[str]:
        colour[key] = grey
        path.append(key)
        for dep in sorted(deps.get(key, ())):
            if colour.get(dep) == grey:
                return [*path[path.index(dep) :], dep]
            if colour.get(dep) == white:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        colour[key] = black
        return []

    for key in sorted(deps):
        if colour[key] == white:
            found = visit(key)
            if found:
                # Read as "waits for": reverse so the arrows follow the work's order.
                return found[::-1]
    return []


def _order(by_key: Mapping[str, Activity]) -> list[str]:
    waiting = {k: set(a.depends_on) for k, a in by_key.items()}
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(waiting):
        ready = sorted(k for k, deps in waiting.items() if k not in placed and deps <= placed)
        done.extend(ready)
        placed.update(ready)
    return done


def plan(
    activities: Sequence[Activity],
    *,
    start: date,
    stream: date,
    buffer_days: int = 0,
    calendar: WorkCalendar | None = None,
    as_of: date | None = None,
) -> Plan:
    """Plan ``activities`` from ``start`` toward ``stream − buffer_days`` (both passes).

    ``as_of`` (today) re-plans around reality: a milestone not done by then cannot
    finish before it, and one whose due day has passed is ``overdue``."""
    cal = calendar or WorkCalendar()
    if not 0 <= buffer_days <= MAX_BUFFER_DAYS:
        raise InvalidInput(f"buffer_days must be between 0 and {MAX_BUFFER_DAYS}")
    order = validate(activities)
    by_key = {a.key: a for a in activities}
    successors: dict[str, list[str]] = {k: [] for k in by_key}
    for a in activities:
        for dep in a.depends_on:
            successors[dep].append(a.key)
    # A milestone not done yet can be done by the end of today at the earliest; one
    # that should have been done by this morning is overdue.
    today = cal.index(start, as_of) if as_of is not None else None

    es: dict[str, int] = {}
    ef: dict[str, int] = {}
    due: dict[str, int] = {}
    overdue: dict[str, bool] = {}
    for key in order:
        a = by_key[key]
        ready = max((ef[d] for d in a.depends_on), default=0)
        due[key] = ready + a.duration
        if a.actual_finish is not None:
            ef[key] = cal.finish_index(start, a.actual_finish)
            overdue[key] = False
        elif today is None:
            ef[key] = due[key]
            overdue[key] = False
        else:
            ef[key] = max(due[key], today + 1)
            overdue[key] = due[key] <= today
        es[key] = ef[key] - a.duration

    finish = max(ef.values(), default=0)
    deadline = cal.index(start, stream) - buffer_days
    lf: dict[str, int] = {}
    ls: dict[str, int] = {}
    for key in reversed(order):
        lf[key] = min((ls[s] for s in successors[key]), default=deadline)
        ls[key] = lf[key] - by_key[key].duration

    open_slack = [ls[k] - es[k] for k in order if by_key[k].actual_finish is None]
    least = min(open_slack, default=None)
    milestones = []
    for key in order:
        a = by_key[key]
        slack = ls[key] - es[key]
        zero = a.duration == 0
        milestones.append(
            Scheduled(
                key=key,
                duration=a.duration,
                depends_on=a.depends_on,
                es=es[key],
                ef=ef[key],
                ls=ls[key],
                lf=lf[key],
                earliest_start=cal.finish_date(start, es[key])
                if zero
                else cal.date_at(start, es[key]),
                earliest_finish=cal.finish_date(start, ef[key]),
                latest_start=cal.finish_date(start, ls[key])
                if zero
                else cal.date_at(start, ls[key]),
                latest_finish=cal.finish_date(start, lf[key]),
                slack_days=slack,
                critical=a.actual_finish is None and slack == least,
                done=a.actual_finish is not None,
                actual_finish=a.actual_finish,
                overdue=overdue[key],
                due=cal.finish_date(start, due[key]),
            )
        )
    slack_days = deadline - finish
    return Plan(
        start=start,
        stream=stream,
        buffer_days=buffer_days,
        deadline=cal.finish_date(start, deadline),
        finish=cal.finish_date(start, finish),
        slack_days=slack_days,
        feasible=slack_days >= 0,
        shortfall_days=max(0, -slack_days),
        unit=cal.unit,
        milestones=tuple(milestones),
        critical_path=tuple(m.key for m in milestones if m.critical),
        overdue=tuple(m.key for m in milestones if m.overdue),
    )

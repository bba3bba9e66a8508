"""Launches: the plan behind one drop, linking its concept, production run, drop and
offers; its timeline planned backward from the stream, its scorecard versions and its
first-run scenarios (``scoring.py``), and the background watch (``watch.py``).

A launch's milestones tied to its run *are* the run's milestones: an actual date
recorded on either is the run's, and every re-plan writes the projected dates of the
run's unfinished milestones back to the run through ``ProductionService``, so a slip
anywhere in the chain moves the warehouse-intake date, the pre-orders' ship estimate
and, through the existing flow, the delay notices.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from dropline.domain.errors import InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.domain.planning.schedule import MAX_BUFFER_DAYS, check_stream_date
from dropline.domain.planning.template import DEFAULT_BUFFER_DAYS, STANDARD, Step
from dropline.services.planning.calendars import check_country
from dropline.services.planning.ical import launch_calendar
from dropline.services.planning.scoring import card_view, scenario_view
from dropline.services.planning.timeline import (
    MAX_TEXT,
    Loaded,
    clean_steps,
    get_launch,
    load,
    plan_view,
    row_of,
    text,
)
from dropline.services.ports import Clock
from dropline.services.supply.production import ProductionService
from dropline.store.uow import UnitOfWork, UowFactory

TEMPLATES = ("standard", "empty")
_UNSET: Any = object()


def midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), UTC)


class LaunchService:
    def __init__(self, uow: UowFactory, clock: Clock, production: ProductionService) -> None:
        self.uow = uow
        self.clock = clock
        self.production = production

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    def today(self) -> date:
        return self._now().date()

    # ------------------------------------------------------------------ launches
    async def create(
        self,
        name: str,
        *,
        stream_date: date,
        actor: str,
        start_date: date | None = None,
        buffer_days: int = DEFAULT_BUFFER_DAYS,
        business_days: bool = False,
        country: str = "",
        concept: str = "",
        product_id: str | None = None,
        run_id: str | None = None,
        drop_id: str | None = None,
        buffer_units: int = 0,
        min_margin_pct: int = 0,
        template: str = "standard",
        milestones: Sequence[Step] | None = None,
    ) -> dict[str, Any]:
        """Create a launch toward ``stream_date`` with the standard timeline (the seeds'
        critical path), an empty one, or the given ``milestones``. Refused with nothing
        stored: a stream date in the past, a start after the stream, a bad timeline
        (cycle, unknown dependency, negative duration), unknown product, run or drop."""
        today = self.today()
        start = start_date or today
        values = self._check_fields(
            name=name,
            concept=concept,
            start_date=start,
            stream_date=stream_date,
            buffer_days=buffer_days,
            business_days=business_days,
            country=country,
            buffer_units=buffer_units,
            min_margin_pct=min_margin_pct,
        )
        if template not in TEMPLATES:
            raise InvalidInput("template must be standard or empty", field="template")
        steps = clean_steps(
            milestones if milestones is not None else (STANDARD if template == "standard" else ())
        )
        launch_id = new_id("lch")
        async with self.uow() as uow:
            await self._check_links(uow, product_id, run_id, drop_id)
            await uow.launches.add(
                values
                | {
                    "id": launch_id,
                    "product_id": product_id,
                    "run_id": run_id,
                    "drop_id": drop_id,
                    "created_by": actor,
                }
            )
            await uow.launches.replace_milestones(launch_id, [row_of(s) for s in steps])
            uow.record(
                DomainEvent(
                    "launch.created",
                    "launch",
                    launch_id,
                    1,
                    {
                        "id": launch_id,
                        "name": values["name"],
                        "stream_date": stream_date.isoformat(),
                    },
                )
            )
            await uow.commit()
        await self.sync_run(launch_id, actor, "launch plan created")
        return await self.get(launch_id)

    def _check_fields(self, **fields: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in fields.items():
            if value is _UNSET:
                continue
            if key == "name":
                value = text(value, "name", required=True, limit=200)
            elif key == "concept":
                value = text(value, "concept")
            elif key == "buffer_days" and not 0 <= value <= MAX_BUFFER_DAYS:
                raise InvalidInput(
                    f"buffer_days must be between 0 and {MAX_BUFFER_DAYS}", field="buffer_days"
                )
            elif key == "country":
                value = check_country(value)
            elif key == "buffer_units" and not 0 <= value <= 10_000_000:
                raise InvalidInput("buffer_units must be between 0 and 10,000,000")
            elif key == "min_margin_pct" and not -100 <= value <= 100:
                raise InvalidInput("min_margin_pct must be between -100 and 100")
            out[key] = value
        if "stream_date" in out:
            check_stream_date(out["stream_date"], self.today())
        if "start_date" in out and "stream_date" in out and out["start_date"] > out["stream_date"]:
            raise InvalidInput("the start date is after the stream date", field="start_date")
        return out

    async def _check_links(
        self, uow: UnitOfWork, product_id: str | None, run_id: str | None, drop_id: str | None
    ) -> None:
        if product_id and await uow.catalog.get_product(product_id) is None:
            raise NotFound(f"product {product_id} not found", product_id=product_id)
        if run_id and await uow.production.run(run_id) is None:
            raise NotFound(f"run {run_id} not found", run_id=run_id)
        if drop_id and await uow.drops.get(drop_id) is None:
            raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)

    async def update(self, launch_id: str, *, actor: str, **fields: Any) -> dict[str, Any]:
        """Change a launch's fields (any of those ``create`` takes but the timeline).
        A link set to ``""`` is removed. Re-plans and syncs the run."""
        allowed = {
            "name",
            "concept",
            "start_date",
            "stream_date",
            "buffer_days",
            "business_days",
            "country",
            "buffer_units",
            "min_margin_pct",
            "product_id",
            "run_id",
            "drop_id",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise InvalidInput(f"cannot change {sorted(unknown)[0]}")
        links = {
            k: (fields.pop(k) or None) for k in ("product_id", "run_id", "drop_id") if k in fields
        }
        values = self._check_fields(**fields) | links
        async with self.uow() as uow:
            launch = await get_launch(uow, launch_id, lock=True)
            await self._check_links(
                uow, links.get("product_id"), links.get("run_id"), links.get("drop_id")
            )
            start: date = values.get("start_date", launch["start_date"])
            stream: date = values.get("stream_date", launch["stream_date"])
            if start > stream:
                raise InvalidInput("the start date is after the stream date", field="start_date")
            if values:
                await uow.launches.update(launch, **values)
                uow.record(
                    DomainEvent(
                        "launch.updated",
                        "launch",
                        launch_id,
                        launch["version"] + 1,
                        {"id": launch_id, "changed": sorted(values), "actor": actor},
                    )
                )
            await uow.commit()
        await self.sync_run(launch_id, actor, "launch plan changed")
        return await self.get(launch_id)

    async def get(self, launch_id: str) -> dict[str, Any]:
        """The launch with its planned timeline, latest scorecard, latest scenario and
        alerts (overdue milestones, an infeasible plan)."""
        async with self.uow(readonly=True) as uow:
            launch = await get_launch(uow, launch_id)
            loaded = await load(uow, launch, self.today())
            cards = await uow.launches.scorecards(launch_id)
            scenarios = await uow.launches.scenarios(launch_id)
        return self._view(loaded, cards[0] if cards else None, scenarios[0] if scenarios else None)

    async def launches(self) -> list[dict[str, Any]]:
        """Every launch, soonest stream first, with its verdict and timeline health."""
        out = []
        async with self.uow(readonly=True) as uow:
            for launch in await uow.launches.find():
                loaded = await load(uow, launch, self.today())
                cards = await uow.launches.scorecards(launch["id"])
                view = self._view(loaded, cards[0] if cards else None, None)
                view.pop("latest_scenario")
                out.append(view)
        return out

    def _view(
        self, loaded: Loaded, card: dict[str, Any] | None, scenario: dict[str, Any] | None
    ) -> dict[str, Any]:
        launch = loaded.launch
        timeline = plan_view(loaded)
        alerts = [
            {
                "kind": "milestone_overdue",
                "milestone": m["key"],
                "owner": m["owner"],
                "due": m["due"],
                "detail": f"{m['name']} was due {m['due']} and is not done",
            }
            for m in timeline["milestones"]
            if m["overdue"]
        ]
        if timeline["feasible"] is False:
            alerts.append(
                {
                    "kind": "infeasible",
                    "milestone": None,
                    "owner": None,
                    "due": timeline["deadline"],
                    "detail": f"the timeline finishes {timeline['shortfall_days']} "
                    f"{timeline['day_unit']} days after stream − buffer ({timeline['deadline']})",
                }
            )
        return {
            "id": launch["id"],
            "name": launch["name"],
            "concept": launch["concept"],
            "product_id": launch["product_id"],
            "run_id": launch["run_id"],
            "drop_id": launch["drop_id"],
            "buffer_units": int(launch["buffer_units"]),
            "min_margin_pct": int(launch["min_margin_pct"]),
            "created_by": launch["created_by"],
            "created_at": launch["created_at"],
            "updated_at": launch["updated_at"],
            "version": int(launch["version"]),
            "scorecard": card_view(card) if card else None,
            "latest_scenario": scenario_view(scenario) if scenario else None,
            "alerts": alerts,
            "timeline": timeline,
        }

    # ------------------------------------------------------------------ timeline
    async def timeline(self, launch_id: str) -> dict[str, Any]:
        async with self.uow(readonly=True) as uow:
            launch = await get_launch(uow, launch_id)
            return plan_view(await load(uow, launch, self.today()))

    async def set_timeline(
        self, launch_id: str, steps: Sequence[Step], *, actor: str
    ) -> dict[str, Any]:
        """Replace the whole timeline (validated whole: a cycle is named, an unknown
        dependency or a negative duration refused, and nothing is stored). Actual dates
        already recorded stay with the milestones that keep their key."""
        clean = clean_steps(steps)
        async with self.uow() as uow:
            launch = await get_launch(uow, launch_id, lock=True)
            old = {r["key"]: r["actual_finish"] for r in await uow.launches.milestones(launch_id)}
            await uow.launches.replace_milestones(
                launch_id, [row_of(s, old.get(s.key)) for s in clean]
            )
            await uow.launches.update(launch)
            uow.record(
                DomainEvent(
                    "launch.timeline_changed",
                    "launch",
                    launch_id,
                    launch["version"] + 1,
                    {"id": launch_id, "milestones": [s.key for s in clean], "actor": actor},
                )
            )
            await uow.commit()
        await self.sync_run(launch_id, actor, "launch timeline changed")
        return await self.timeline(launch_id)

    async def set_milestone(
        self,
        launch_id: str,
        key: str,
        *,
        actor: str,
        name: str | None = None,
        duration_days: int | None = None,
        depends_on: Sequence[str] | None = None,
        owner: str | None = None,
        actual_finish: date | None = None,
        clear_actual: bool = False,
        reason: str = "",
    ) -> dict[str, Any]:
        """Change one milestone or record the date it was reached, and re-plan. An actual
        date of a milestone tied to the linked run is recorded on the run (with its
        history and, for warehouse intake, the pre-orders' re-estimate); then the
        projected dates of the run's unfinished milestones follow the new plan."""
        if actual_finish is not None and clear_actual:
            raise InvalidInput("give actual_finish or clear_actual, not both")
        if actual_finish is not None and actual_finish > self.today():
            raise InvalidInput("an actual date cannot be in the future", field="actual_finish")
        reason = text(reason, "reason")
        async with self.uow() as uow:
            launch = await get_launch(uow, launch_id, lock=True)
            rows = await uow.launches.milestones(launch_id)
            row = next((r for r in rows if r["key"] == key), None)
            if row is None:
                raise NotFound(f"launch {launch_id} has no milestone {key}", key=key)
            changed = {
                k: v
                for k, v in (
                    ("name", name),
                    ("duration_days", duration_days),
                    ("depends_on", list(depends_on) if depends_on is not None else None),
                    ("owner", owner),
                )
                if v is not None
            }
            new_rows = [r | changed if r["key"] == key else r for r in rows]
            steps = clean_steps(
                [
                    Step(
                        r["key"],
                        r["name"],
                        int(r["duration_days"]),
                        tuple(r["depends_on"]),
                        r["owner"],
                        r["run_milestone"],
                    )
                    for r in new_rows
                ]
            )
            step = next(s for s in steps if s.key == key)
            values: dict[str, Any] = {
                "name": step.name,
                "duration_days": step.duration_days,
                "depends_on": list(step.depends_on),
                "owner": step.owner,
            }
            if actual_finish is not None or clear_actual:
                values["actual_finish"] = actual_finish
            if clear_actual and row["run_milestone"] and launch["run_id"]:
                on_run = (await uow.production.milestones(launch["run_id"])).get(
                    row["run_milestone"], {}
                )
                if on_run.get("actual_at") is not None:
                    raise InvalidInput(
                        f"the run {launch['run_id']} records when {key} was reached; an actual "
                        "date on a run cannot be cleared",
                        field="clear_actual",
                    )
            await uow.launches.update_milestone(launch_id, key, **values)
            await uow.launches.update(launch)
            uow.record(
                DomainEvent(
                    "launch.milestone_changed",
                    "launch",
                    launch_id,
                    launch["version"] + 1,
                    {
                        "id": launch_id,
                        "milestone": key,
                        "changed": sorted(changed)
                        + (["actual_finish"] if "actual_finish" in values else []),
                        "actual_finish": actual_finish.isoformat() if actual_finish else None,
                        "actor": actor,
                        "reason": reason,
                    },
                )
            )
            await uow.commit()
        tied = row["run_milestone"]
        if tied and launch["run_id"] and (actual_finish is not None or clear_actual):
            run = await self.production.run(launch["run_id"])
            current: dict[str, Any] = next((m for m in run["milestones"] if m["kind"] == tied), {})
            if actual_finish is not None and (
                current.get("actual_at") is None or current["actual_at"].date() != actual_finish
            ):
                await self.production.set_milestone(
                    launch["run_id"],
                    tied,
                    actor=actor,
                    actual_at=midnight(actual_finish),
                    reason=reason or f"recorded on launch {launch_id}",
                )
        await self.sync_run(launch_id, actor, reason or f"{key} changed on the launch")
        return await self.timeline(launch_id)

    async def sync_run(self, launch_id: str, actor: str, why: str) -> int:
        """Write the plan's projected finish of every unfinished milestone tied to the
        linked run to the run's planned date, where it differs. Returns how many moved.

        Each write goes through ``ProductionService.set_milestone``: the run keeps its
        change history, and a moved warehouse-intake date re-estimates the pre-orders
        and starts the delay-notice flow."""
        async with self.uow(readonly=True) as uow:
            launch = await get_launch(uow, launch_id)
            if not launch["run_id"]:
                return 0
            loaded = await load(uow, launch, self.today())
        if loaded.plan is None:
            return 0
        moves: list[tuple[str, datetime]] = []
        for r in loaded.rows:
            kind = r["run_milestone"]
            if not kind:
                continue
            m = loaded.plan.get(r["key"])
            if m.done:
                continue
            projected = midnight(m.earliest_finish)
            if loaded.run_milestones.get(kind, {}).get("planned_at") != projected:
                moves.append((kind, projected))
        # Intake last, so its re-estimate sees the chain moved; but first when final QC
        # moves past the intake's current date (the run never holds final QC after the
        # intake, not even between two writes).
        new = dict(moves)
        intake_now = loaded.run_milestones.get("warehouse_intake", {}).get("planned_at")
        qc_new = new.get("final_qc")
        intake_first = bool(
            "warehouse_intake" in new and qc_new and intake_now and qc_new > intake_now
        )
        moves.sort(key=lambda mv: (mv[0] == "warehouse_intake") != intake_first)
        for kind, when in moves:
            await self.production.set_milestone(
                launch["run_id"],
                kind,
                actor=actor,
                planned_at=when,
                reason=f"re-planned by launch {launch_id}: {why}"[:MAX_TEXT],
            )
        return len(moves)

    # ------------------------------------------------------------------ calendar
    async def calendar(self, launch_id: str) -> bytes:
        """The timeline as an iCalendar file for the owners' calendars."""
        async with self.uow(readonly=True) as uow:
            launch = await get_launch(uow, launch_id)
            timeline = plan_view(await load(uow, launch, self.today()))
        return launch_calendar(launch, timeline, self._now())

"""Launch scorecards and first-run scenarios: versioned scores with who and why, the
scores dropline proposes from evidence, the stress test, and the newsvendor scenarios
saved on a launch (or answered stand-alone)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.domain.planning.scorecard import (
    Score,
    Thresholds,
    check_scores,
    effective_weights,
    total,
    verdict,
)
from dropline.services.planning import evidence
from dropline.services.planning.first_runs import FirstRunRequest, first_run
from dropline.services.planning.timeline import get_launch, load, text
from dropline.services.ports import Clock
from dropline.store.uow import UowFactory


class LaunchScoreService:
    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def today(self) -> date:
        return datetime.fromtimestamp(self.clock.now(), UTC).date()

    # ------------------------------------------------------------------ scorecard
    async def score(
        self,
        launch_id: str,
        scores: Mapping[str, Score],
        *,
        actor: str,
        reason: str,
        weights: Mapping[str, int] | None = None,
        thresholds: Thresholds | None = None,
    ) -> dict[str, Any]:
        """Store a new version of the scorecard (every variable scored, who and why);
        weights and thresholds default to the previous version's, else equal / 70 / 50."""
        reason = text(reason, "reason", required=True)
        async with self.uow() as uow:
            launch = await get_launch(uow, launch_id, lock=True)
            cards = await uow.launches.scorecards(launch_id)
            prev = cards[0] if cards else None
            w = dict(weights) if weights is not None else dict(prev["weights"]) if prev else {}
            t = thresholds or (
                Thresholds(int(prev["go_at"]), int(prev["review_at"])) if prev else Thresholds()
            )
            check_scores(scores, w)
            w = effective_weights(w)
            score_total = total(scores, w)
            v = verdict(score_total, t)
            version = await uow.launches.add_scorecard(
                {
                    "launch_id": launch_id,
                    "scores": {
                        k: {"score": s.value, "note": s.note.strip()} for k, s in scores.items()
                    },
                    "weights": w,
                    "go_at": t.go_at,
                    "review_at": t.review_at,
                    "total": score_total,
                    "verdict": v.value,
                    "changed_by": actor,
                    "reason": reason,
                }
            )
            await uow.launches.update(launch)
            uow.record(
                DomainEvent(
                    "launch.scored",
                    "launch",
                    launch_id,
                    launch["version"] + 1,
                    {
                        "id": launch_id,
                        "version": version,
                        "total": score_total,
                        "verdict": v.value,
                        "actor": actor,
                        "reason": reason,
                    },
                )
            )
            await uow.commit()
        return await self.scorecard(launch_id)

    async def scorecard(self, launch_id: str) -> dict[str, Any]:
        """The latest scorecard (None before the first), the scores dropline proposes
        from evidence, and the stress test."""
        async with self.uow(readonly=True) as uow:
            launch = await get_launch(uow, launch_id)
            loaded = await load(uow, launch, self.today())
            cards = await uow.launches.scorecards(launch_id)
            scenarios = await uow.launches.scenarios(launch_id)
            latest = scenarios[0] if scenarios else None
            proposals = await evidence.proposals(uow, loaded, latest)
            checks = await evidence.stress_test(uow, loaded, latest)
        return {
            "launch_id": launch_id,
            "current": card_view(cards[0]) if cards else None,
            "proposals": [evidence.proposal_view(p) for p in proposals],
            "stress_test": {
                "passed": all(c.status in ("pass", "manual") for c in checks),
                "checks": [evidence.check_view(c) for c in checks],
            },
        }

    async def scorecard_history(self, launch_id: str) -> list[dict[str, Any]]:
        async with self.uow(readonly=True) as uow:
            await get_launch(uow, launch_id)
            return [card_view(c) for c in await uow.launches.scorecards(launch_id)]

    # ------------------------------------------------------------------ scenarios
    def first_run(self, req: FirstRunRequest) -> dict[str, Any]:
        """The stand-alone first-run answer (nothing stored; the size curve as given)."""
        return first_run(req)

    async def add_scenario(
        self, launch_id: str, req: FirstRunRequest, *, actor: str
    ) -> dict[str, Any]:
        """Solve and store a scenario on the launch; the run is split over the product's
        SKUs by their past sell-through when the launch's product has sold before."""
        async with self.uow() as uow:
            launch = await get_launch(uow, launch_id, lock=True)
            history: dict[str, float] = {}
            if launch["product_id"]:
                sales = await uow.launches.product_sales(launch["product_id"], launch["drop_id"])
                history = {sku: float(sold) for sku, (_, sold) in sales.items()}
            result = first_run(req, history)
            scenario_id = new_id("scn")
            await uow.launches.add_scenario(
                {
                    "id": scenario_id,
                    "launch_id": launch_id,
                    "inputs": req.inputs(),
                    "result": result,
                    "created_by": actor,
                }
            )
            uow.record(
                DomainEvent(
                    "launch.scenario_added",
                    "launch",
                    launch_id,
                    int(launch["version"]),
                    {
                        "id": launch_id,
                        "scenario_id": scenario_id,
                        "first_run_quantity": result["first_run_quantity"],
                        "decision": result["decision"],
                        "actor": actor,
                    },
                )
            )
            rows = await uow.launches.scenarios(launch_id)
            await uow.commit()
        return scenario_view(next(r for r in rows if r["id"] == scenario_id))

    async def scenarios(self, launch_id: str) -> list[dict[str, Any]]:
        async with self.uow(readonly=True) as uow:
            await get_launch(uow, launch_id)
            return [scenario_view(r) for r in await uow.launches.scenarios(launch_id)]


def card_view(c: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "version": int(c["version"]),
        "scores": c["scores"],
        "weights": c["weights"],
        "thresholds": {"go_at": int(c["go_at"]), "review_at": int(c["review_at"])},
        "total": int(c["total"]),
        "verdict": c["verdict"],
        "changed_by": c["changed_by"],
        "reason": c["reason"],
        "created_at": c["created_at"],
    }


def scenario_view(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "launch_id": r["launch_id"],
        "inputs": r["inputs"],
        "created_by": r["created_by"],
        "created_at": r["created_at"],
        **r["result"],
    }

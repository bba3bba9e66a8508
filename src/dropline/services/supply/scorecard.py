"""Supplier scorecards: per manufacturer, how its runs kept their dates and how its lots
did in inspection and with buyers (definitions in ``domain.supply.scorecard``).

- milestones on time and average slip, per milestone kind;
- lead-time delta against the manufacturer's quoted lead time;
- lots passed first time;
- defect rate: buyer-reported defective units traced to its lots over their delivered
  units (``services.supply.quality.lot_figures``);
- return rate: units of the SKUs its runs made in returns not cancelled, over the same
  delivered units.

``supplier_figures`` runs inside any unit of work, so the launch scorecard's evidence
(``services.planning.evidence``) reads the same numbers the page shows.
"""

from __future__ import annotations

from typing import Any

from dropline.domain.errors import NotFound
from dropline.domain.supply.production import Milestone
from dropline.domain.supply.qc import Stage
from dropline.domain.supply.scorecard import (
    MilestoneDates,
    lead_time_delta,
    milestone_figures,
    passed_first_time,
    ratio_bp,
)
from dropline.services.supply.quality import lot_figures
from dropline.store.uow import UnitOfWork, UowFactory


async def supplier_figures(uow: UnitOfWork, manufacturer_id: str) -> dict[str, Any]:
    """The scorecard of one manufacturer (``NotFound`` if unknown)."""
    mfr = await uow.production.manufacturer(manufacturer_id)
    if mfr is None:
        raise NotFound(f"manufacturer {manufacturer_id} not found")
    runs = [r for r in await uow.production.runs() if r["manufacturer_id"] == manufacturer_id]
    dates: list[MilestoneDates] = []
    intakes = []
    for run in runs:
        ms = await uow.production.milestones(run["id"])
        for kind, m in ms.items():
            dates.append(MilestoneDates(kind, m["planned_at"], m["actual_at"]))
        intake = ms.get(Milestone.WAREHOUSE_INTAKE.value)
        intakes.append((run["created_at"], intake["actual_at"] if intake else None))
    quoted = int(mfr["default_lead_time_days"])
    judged_runs, delta = lead_time_delta(intakes, quoted)
    run_ids = {r["id"] for r in runs}
    lots = [lot for lot in await uow.production.lots() if lot["run_id"] in run_ids]
    firsts = []
    for lot in lots:
        done = [
            i
            for i in await uow.production.inspections(lot["id"])
            if i["stage"] == Stage.FINAL_RANDOM.value
            and not i["resubmitted"]
            and i["signed_off_at"] is not None
        ]
        if done:
            firsts.append(bool(done[0]["accepted"]))
    passed, inspected = passed_first_time(firsts)
    sku_ids = sorted({lot["sku_id"] for lot in lots})
    figures = await lot_figures(uow, sku_ids)
    ours = [f for lot_id, (_, f) in figures.items() if lot_id in {lot["id"] for lot in lots}]
    delivered = sum(f.delivered for f in ours)
    defective = sum(f.defective for f in ours)
    returned = await uow.launches.returned_units(sku_ids) if sku_ids else 0
    return {
        "manufacturer_id": manufacturer_id,
        "name": mfr["name"],
        "runs": len(runs),
        "milestones": milestone_figures(dates),
        "quoted_lead_time_days": quoted,
        "lead_time_runs": judged_runs,
        "lead_time_delta_days": delta,
        "lots_inspected": inspected,
        "lots_passed_first_time": passed,
        "first_pass_bp": ratio_bp(passed, inspected),
        "delivered_units": delivered,
        "defective_units": defective,
        "defect_rate_bp": ratio_bp(defective, delivered),
        "returned_units": returned,
        "return_rate_bp": ratio_bp(returned, delivered),
    }


class ScorecardService:
    def __init__(self, uow: UowFactory) -> None:
        self.uow = uow

    async def supplier(self, manufacturer_id: str) -> dict[str, Any]:
        async with self.uow(readonly=True) as uow:
            return await supplier_figures(uow, manufacturer_id)

    async def suppliers(self) -> list[dict[str, Any]]:
        """Every manufacturer's scorecard, by name."""
        async with self.uow(readonly=True) as uow:
            out = [
                await supplier_figures(uow, m["id"]) for m in await uow.production.manufacturers()
            ]
        return sorted(out, key=lambda s: (s["name"], s["manufacturer_id"]))

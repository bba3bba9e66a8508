"""What dropline knows about a launch before the creator scores it: proposed scores
with the evidence behind them, and the stress test (a 14-day delay, a two-point colour
variation, a 3 % defect rate) with its numbers."""

from __future__ import annotations

from typing import Any

from dropline.domain.planning.scorecard import (
    Check,
    Proposal,
    colour_check,
    defect_checks,
    delay_check,
    propose_demand,
    propose_lead_time,
    propose_margin,
    propose_return_risk,
)
from dropline.domain.supply.production import unit_cost
from dropline.services.planning.timeline import Loaded
from dropline.store.uow import UnitOfWork


async def economics(
    uow: UnitOfWork, launch: dict[str, Any], latest: dict[str, Any] | None
) -> tuple[int | None, int | None, int | None, str]:
    """(price, unit cost, planned units, where they came from): the latest first-run
    scenario, else the linked run's first line (its cost tier and its SKU's price)."""
    if latest is not None:
        r = latest["result"]
        return int(r["price"]), int(r["unit_cost"]), int(r["order_quantity"]), "the latest scenario"
    if launch["run_id"]:
        lines = await uow.production.run_lines(launch["run_id"])
        if lines:
            skus = await uow.catalog.get_skus([ln.sku_id for ln in lines])
            cost = unit_cost(lines[0])
            sku = skus.get(lines[0].sku_id)
            if cost is not None and sku is not None:
                planned = sum(ln.quantity for ln in lines)
                return sku.price.amount, cost, planned, "the run's cost tier and the SKU price"
    return None, None, None, ""


async def proposals(
    uow: UnitOfWork, loaded: Loaded, latest: dict[str, Any] | None
) -> list[Proposal]:
    """The scores dropline can propose, each with why; variables without evidence
    (complexity and content value always) are left to the creator."""
    launch = loaded.launch
    out: list[Proposal] = []
    price, cost, planned, source = await economics(uow, launch, latest)
    if price is not None and cost is not None and price > 0:
        out.append(propose_margin(price, cost, source))
    if loaded.plan is not None:
        out.append(
            propose_lead_time(
                loaded.plan.slack_days + loaded.plan.buffer_days, loaded.calendar.unit
            )
        )
    history: dict[str, list[int]] = {}
    if launch["product_id"]:
        history = await uow.launches.product_sales(launch["product_id"], launch["drop_id"])
    sold = sum(s for _, s in history.values())
    offered = sum(o for o, _ in history.values())
    returned = await uow.launches.returned_units(list(history)) if history else 0
    found = sampled = 0
    basis = []
    if sold:
        basis.append("past drops of the product")
    if launch["run_id"]:
        run = await uow.production.run(launch["run_id"])
        if run is not None:
            found, sampled = await uow.launches.manufacturer_defects(run["manufacturer_id"])
            if sampled:
                basis.append("the manufacturer's inspections")
    risk = propose_return_risk(returned, sold, found, sampled, " and ".join(basis))
    if risk is not None:
        out.append(risk)
    preordered = await uow.launches.preordered_units(launch["run_id"]) if launch["run_id"] else 0
    sell_through = 100 * sold / offered if offered else None
    parts = []
    if preordered:
        parts.append(f"{preordered} units pre-ordered against {planned or 0} planned")
    if sell_through is not None:
        parts.append(f"past sell-through {sell_through:.0f} % ({sold} of {offered})")
    demand = propose_demand(preordered, planned or 0, sell_through, "; ".join(parts))
    if demand is not None:
        out.append(demand)
    return out


async def stress_test(
    uow: UnitOfWork, loaded: Loaded, latest: dict[str, Any] | None
) -> list[Check]:
    """The seeds' stress test, each check a pass or fail with its numbers."""
    launch = loaded.launch
    price, cost, planned, _ = await economics(uow, launch, latest)
    p = loaded.plan
    return [
        delay_check(
            p.slack_days if p is not None else None,
            int(launch["buffer_days"]),
            loaded.calendar.unit,
        ),
        colour_check(),
        *defect_checks(
            planned, int(launch["buffer_units"]), price, cost, int(launch["min_margin_pct"])
        ),
    ]


def proposal_view(p: Proposal) -> dict[str, Any]:
    return {"variable": p.variable.value, "score": p.value, "why": p.why}


def check_view(c: Check) -> dict[str, Any]:
    return {"name": c.name, "status": c.status, "detail": c.detail, "numbers": dict(c.numbers)}

"""First-run scenarios as a request and a JSON-ready answer: the newsvendor solution,
its scenarios, the split over variants and the phased plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from dropline.domain.errors import InvalidInput
from dropline.domain.planning.first_run import (
    FirstRun,
    UnitEconomics,
    demand_from,
    solve,
    split_by_curve,
)

MAX_VARIANTS = 200


@dataclass(frozen=True)
class FirstRunRequest:
    """What a creator knows before the run: unit economics in minor units of
    ``currency``, the MOQ, demand (``mean``/``sd`` or ``best``/``expected``/``worst``),
    optionally a quantity to compare, a size curve and the reorder rule."""

    price: int
    unit_cost: int
    salvage: int
    currency: str
    moq: int = 0
    mean: float | None = None
    sd: float | None = None
    best: float | None = None
    expected: float | None = None
    worst: float | None = None
    chosen_quantity: int | None = None
    size_curve: Mapping[str, float] = field(default_factory=dict)
    reorder_threshold_pct: int = 70
    reorder_window_days: int = 14

    def inputs(self) -> dict[str, Any]:
        out = asdict(self)
        out["size_curve"] = dict(self.size_curve)
        return out


def first_run(req: FirstRunRequest, history: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Solve the request. The run is split over variants by past sell-through when
    ``history`` has any (units sold per variant), otherwise by the given size curve."""
    econ = UnitEconomics(req.price, req.unit_cost, req.salvage, req.currency.upper())
    demand = demand_from(
        mean=req.mean, sd=req.sd, best=req.best, expected=req.expected, worst=req.worst
    )
    if req.chosen_quantity is not None and req.chosen_quantity < 0:
        raise InvalidInput("chosen_quantity cannot be negative", field="chosen_quantity")
    if len(req.size_curve) > MAX_VARIANTS:
        raise InvalidInput(f"a size curve has at most {MAX_VARIANTS} variants", field="size_curve")
    run = solve(
        econ,
        demand,
        moq=req.moq,
        chosen=req.chosen_quantity,
        reorder_threshold_pct=req.reorder_threshold_pct,
        reorder_window_days=req.reorder_window_days,
    )
    curve: dict[str, float] = {}
    source = None
    if history and sum(history.values()) > 0:
        curve, source = {k: float(v) for k, v in history.items()}, "past_sell_through"
    elif req.size_curve:
        curve, source = {k: float(v) for k, v in req.size_curve.items()}, "given"
    split = split_by_curve(run.order_quantity, curve) if curve else {}
    return view(run) | {
        "size_split": {"source": source, "curve": curve, "units": split},
    }


def view(run: FirstRun) -> dict[str, Any]:
    d = run.demand
    return {
        "currency": run.economics.currency,
        "price": run.economics.price,
        "unit_cost": run.economics.cost,
        "salvage": run.economics.salvage,
        "moq": run.moq,
        "demand": {
            "source": d.source,
            "mean": round(d.mean, 2),
            "sd": round(d.sd, 2),
            "best": d.best,
            "expected": d.expected,
            "worst": d.worst,
        },
        "critical_ratio": round(float(run.critical_ratio), 4),
        "first_run_quantity": run.first_run_quantity,
        "order_quantity": run.order_quantity,
        "decision": run.decision.value,
        "reason": run.reason,
        "scenarios": {
            name: {
                "quantity": o.quantity,
                "expected_sales": round(o.expected_sales, 1),
                "expected_leftover": round(o.expected_leftover, 1),
                "stockout_probability": round(o.stockout_probability, 4),
                "expected_profit": o.expected_profit,
                "cash_tied_up": o.cash_tied_up,
            }
            for name, o in run.scenarios.items()
        },
        "phased_plan": {
            "first_batch": run.phased.first_batch,
            "reorder": {
                "threshold_pct": run.phased.reorder_threshold_pct,
                "window_days": run.phased.reorder_window_days,
            },
            "upside_units": run.phased.upside_units,
        },
    }

"""The quality loop: the defect Pareto, thresholds, and quality alerts.

When an approved problem report's defects take a passed lot's defect rate above its
manufacturer's threshold (``domain.supply.quality``), in the same transaction:

- an alert opens against the lot and its manufacturer (one per lot, ever);
- containment: the lot's remaining units on the shelf move ``available``/``safety →
  quality_control`` as ``contain`` movements with the lot as ref;
- the manufacturer's switching state for the lot's product goes to tightened for every
  defect class (``SwitchingState.tighten``), so its next final inspections draw the
  tightened plans.

The alert closes only with a corrective action and a later lot of the manufacturer that
passed (``check_close``). Contained units stay in ``quality_control`` until the ops lead
moves them (a stock adjustment).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dropline.domain.errors import InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.domain.stock.buckets import Bucket, Movement, Reason
from dropline.domain.supply.aql import DefectClass
from dropline.domain.supply.qc import LotStatus, switching_state_dict, switching_state_from
from dropline.domain.supply.quality import (
    GLOBAL,
    AlertStatus,
    ShelfFlow,
    check_close,
    parse_threshold_pct,
    passes_threshold,
    rate_bp,
    shelf_by_lot,
    threshold_for,
)
from dropline.services.ports import Clock
from dropline.store.uow import UnitOfWork, UowFactory

PARETO_KEYS = ("sku", "lot", "manufacturer")


@dataclass(frozen=True)
class LotFigures:
    """A lot's units as the quality loop counts them."""

    delivered: int  # allocated to pre-orders (kept) + taken off the shelf first in, first out
    remaining: int  # still on the shelf: what containment moves
    defective: int


class QualityService:
    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # ------------------------------------------------------------------ thresholds
    async def set_threshold(self, manufacturer_id: str, threshold_pct: object) -> dict[str, Any]:
        """Set the alert threshold (percent, 0 to 100) of a manufacturer, or ``*`` for
        every manufacturer without its own; ``InvalidInput`` outside 0 to 100."""
        bp = parse_threshold_pct(threshold_pct)
        async with self.uow() as uow:
            if (
                manufacturer_id != GLOBAL
                and await uow.production.manufacturer(manufacturer_id) is None
            ):
                raise NotFound(f"manufacturer {manufacturer_id} not found")
            await uow.quality.set_threshold(manufacturer_id, bp)
            await uow.commit()
        return {"manufacturer_id": manufacturer_id, "threshold_bp": bp}

    async def thresholds(self) -> dict[str, Any]:
        async with self.uow(readonly=True) as uow:
            got = await uow.quality.thresholds()
        return {"thresholds": got, "default_bp": threshold_for("", {})}

    # ------------------------------------------------------------------ figures
    async def _figures(
        self, uow: UnitOfWork, sku_ids: Iterable[str]
    ) -> dict[str, tuple[str, LotFigures]]:
        return await lot_figures(uow, sku_ids)

    async def lot_figures(self, lot_id: str) -> dict[str, Any]:
        """A lot's delivered, remaining and defective units and its defect rate."""
        async with self.uow(readonly=True) as uow:
            lot = await uow.production.lot(lot_id)
            if lot is None:
                raise NotFound(f"lot {lot_id} not found")
            _, f = (await self._figures(uow, [lot["sku_id"]]))[lot_id]
        return {
            "lot_id": lot_id,
            "delivered_units": f.delivered,
            "remaining_units": f.remaining,
            "defective_units": f.defective,
            "defect_rate_bp": rate_bp(f.defective, f.delivered),
        }

    async def pareto(self, by: str = "sku") -> list[dict[str, Any]]:
        """Defects grouped by SKU, lot or manufacturer, most defective units first:
        units, reports, photos, the reasons, the rate over the group's delivered units
        (lots traced; untraced defects group under ``null``) and the cumulative share
        of all defective units."""
        if by not in PARETO_KEYS:
            raise InvalidInput(f"by must be one of {', '.join(PARETO_KEYS)}", field="by")
        async with self.uow(readonly=True) as uow:
            rows = await uow.problems.defects()
            figures = await self._figures(uow, {r["sku_id"] for r in rows})
            runs = {lot["id"]: lot["run_id"] for lot in await uow.production.lots()}
            mfr_of: dict[str, str | None] = {}
            for lot_id, run_id in runs.items():
                run = await uow.production.run(run_id)
                mfr_of[lot_id] = run["manufacturer_id"] if run else None
        col = {"sku": "sku_id", "lot": "lot_id", "manufacturer": "manufacturer_id"}[by]
        groups: dict[str | None, dict[str, Any]] = {}
        for r in rows:
            g = groups.setdefault(
                r[col],
                {by: r[col], "units": 0, "problems": {}, "reasons": {}},
            )
            g["units"] += int(r["quantity"])
            g["problems"][r["problem_id"]] = int(r["photo_count"])
            g["reasons"][r["reason_code"]] = g["reasons"].get(r["reason_code"], 0) + int(
                r["quantity"]
            )
        delivered: dict[str | None, int] = {}
        for lot_id, (sku, f) in figures.items():
            key = {"sku": sku, "lot": lot_id, "manufacturer": mfr_of.get(lot_id)}[by]
            delivered[key] = delivered.get(key, 0) + f.delivered
        total = sum(g["units"] for g in groups.values())
        out, running = [], 0
        for g in sorted(groups.values(), key=lambda g: (-g["units"], str(g[by]))):
            running += g["units"]
            d = delivered.get(g[by], 0)
            out.append(
                {
                    by: g[by],
                    "defective_units": g["units"],
                    "delivered_units": d,
                    "defect_rate_bp": rate_bp(g["units"], d),
                    "reports": len(g["problems"]),
                    "photos": sum(g["problems"].values()),
                    "problem_ids": sorted(g["problems"]),
                    "reasons": dict(sorted(g["reasons"].items())),
                    "cumulative_share_bp": running * 10_000 // total,
                }
            )
        return out

    # ------------------------------------------------------------------ alerts
    async def evaluate(
        self, uow: UnitOfWork, lot_ids: Iterable[str | None], actor: str
    ) -> list[dict[str, Any]]:
        """Inside the caller's transaction (a report's approval): open an alert for each
        of these passed lots whose defect rate is now above its threshold and that has
        none yet, with containment and tightened inspection. Returns the alerts opened."""
        opened = []
        thresholds = await uow.quality.thresholds()
        for lot_id in sorted({x for x in lot_ids if x is not None}):
            lot = await uow.production.lot(lot_id, lock=True)
            if lot is None or lot["status"] != LotStatus.PASSED.value:
                continue
            if await uow.quality.alert_for_lot(lot_id) is not None:
                continue
            run = await uow.production.run(lot["run_id"])
            assert run is not None
            mfr = run["manufacturer_id"]
            threshold = threshold_for(mfr, thresholds)
            _, f = (await self._figures(uow, [lot["sku_id"]]))[lot_id]
            if not passes_threshold(f.defective, f.delivered, threshold):
                continue
            opened.append(await self._open(uow, lot, mfr, threshold, f, actor))
        return opened

    async def _open(
        self,
        uow: UnitOfWork,
        lot: Mapping[str, Any],
        mfr: str,
        threshold: int,
        f: LotFigures,
        actor: str,
    ) -> dict[str, Any]:
        sku_id, lot_id = lot["sku_id"], lot["id"]
        alert_id = new_id("qal")
        contained = 0
        if f.remaining:
            level = (await uow.stock.lock([sku_id]))[sku_id]
            movements = []
            left = f.remaining
            for bucket in (Bucket.AVAILABLE, Bucket.SAFETY):
                take = min(left, level.get(bucket))
                if take:
                    movements.append(
                        Movement(
                            sku_id,
                            take,
                            bucket,
                            Bucket.QUALITY_CONTROL,
                            Reason.CONTAIN,
                            lot_id,
                            actor,
                            f"quality alert {alert_id}",
                        )
                    )
                    left -= take
                    contained += take
            await uow.stock.apply(movements)
        sku = await uow.catalog.get_sku(sku_id)
        assert sku is not None
        tightened = []
        for c in DefectClass:
            state = switching_state_from(
                await uow.production.switching_state(mfr, sku.product_id, c.value)
            )
            nxt = state.tighten()
            if nxt != state:
                await uow.production.save_switching_state(
                    mfr, sku.product_id, c.value, switching_state_dict(nxt)
                )
                tightened.append(c.value)
        now = self._now()
        values = {
            "id": alert_id,
            "lot_id": lot_id,
            "manufacturer_id": mfr,
            "sku_id": sku_id,
            "status": AlertStatus.OPEN.value,
            "threshold_bp": threshold,
            "defect_rate_bp": rate_bp(f.defective, f.delivered),
            "defective_units": f.defective,
            "delivered_units": f.delivered,
            "contained_units": contained,
            "corrective_action": "",
            "closing_lot_id": None,
            "closed_by": "",
            "opened_at": now,
            "closed_at": None,
            "updated_at": now,
            "version": 1,
        }
        await uow.quality.add_alert(values)
        uow.record(
            DomainEvent(
                "quality.alert_opened",
                "quality_alert",
                alert_id,
                1,
                {
                    "alert_id": alert_id,
                    "lot_id": lot_id,
                    "manufacturer_id": mfr,
                    "product_id": sku.product_id,
                    "defect_rate_bp": values["defect_rate_bp"],
                    "threshold_bp": threshold,
                    "contained_units": contained,
                    "tightened": tightened,
                },
            )
        )
        return values

    async def alerts(self, status: str | None = None) -> list[dict[str, Any]]:
        if status is not None and status not in {s.value for s in AlertStatus}:
            raise InvalidInput(f"unknown alert status {status!r}; open or closed", field="status")
        async with self.uow(readonly=True) as uow:
            return await uow.quality.alerts(status=status)

    async def alert(self, alert_id: str) -> dict[str, Any]:
        async with self.uow(readonly=True) as uow:
            got = await uow.quality.alert(alert_id)
        if got is None:
            raise NotFound(f"quality alert {alert_id} not found", alert_id=alert_id)
        return got

    async def close(
        self, alert_id: str, corrective_action: str, closing_lot_id: str, *, by: str
    ) -> dict[str, Any]:
        """Close an open alert with the manufacturer's corrective action and a later lot
        of theirs that passed (``check_close``); anything else is refused."""
        async with self.uow() as uow:
            alert = await uow.quality.alert(alert_id, lock=True)
            if alert is None:
                raise NotFound(f"quality alert {alert_id} not found", alert_id=alert_id)
            lot = await uow.production.lot(closing_lot_id)
            if lot is None:
                raise NotFound(f"lot {closing_lot_id} not found", field="closing_lot_id")
            run = await uow.production.run(lot["run_id"])
            action = check_close(
                AlertStatus(alert["status"]),
                corrective_action,
                manufacturer_id=alert["manufacturer_id"],
                closing_manufacturer_id=run["manufacturer_id"] if run else None,
                closing_lot_passed=lot["status"] == LotStatus.PASSED.value,
                closing_received_at=lot["received_at"],
                opened_at=alert["opened_at"],
            )
            alert = await uow.quality.update_alert(
                alert,
                status=AlertStatus.CLOSED.value,
                corrective_action=action,
                closing_lot_id=closing_lot_id,
                closed_by=by[:120],
                closed_at=self._now(),
            )
            uow.record(
                DomainEvent(
                    "quality.alert_closed",
                    "quality_alert",
                    alert_id,
                    int(alert["version"]),
                    {"alert_id": alert_id, "closing_lot_id": closing_lot_id, "by": by},
                )
            )
            await uow.commit()
        return alert


async def lot_figures(uow: UnitOfWork, sku_ids: Iterable[str]) -> dict[str, tuple[str, LotFigures]]:
    """Per lot of these SKUs: (sku, figures), from one replay of each SKU's shelf."""
    wanted = set(sku_ids)
    lots = [lot for lot in await uow.production.lots() if lot["sku_id"] in wanted]
    out: dict[str, tuple[str, LotFigures]] = {}
    for sku in sorted({lot["sku_id"] for lot in lots}):
        lot_ids = {lot["id"] for lot in lots if lot["sku_id"] == sku}
        allocated: dict[str, int] = {}
        by_order: dict[str, list[tuple[str, int]]] = {}
        for lot_id in sorted(lot_ids):
            for a in await uow.production.allocations(lot_id=lot_id):
                allocated[lot_id] = allocated.get(lot_id, 0) + int(a["quantity"])
                by_order.setdefault(a["order_id"], []).append((lot_id, int(a["quantity"])))
        flows: list[ShelfFlow] = []
        unallocated: dict[str, int] = {}
        for m in await uow.quality.shelf_movements(sku):
            qty, inflow = int(m["quantity"]), m["to_bucket"] in ("available", "safety")
            reason, ref = m["reason"], m["ref"]
            if not inflow:
                lot = ref if reason == Reason.CONTAIN.value else None
                flows.append(ShelfFlow(qty, False, lot))
            elif reason == Reason.QC_PASS.value and ref in lot_ids:
                flows.append(ShelfFlow(qty, True, ref))
            elif reason == Reason.UNALLOCATE.value and ref in by_order:
                for lot_id, q in _spread(qty, by_order[ref]):
                    unallocated[lot_id] = unallocated.get(lot_id, 0) + q
                    flows.append(ShelfFlow(q, True, lot_id))
            else:
                flows.append(ShelfFlow(qty, True, None))
        shelf = shelf_by_lot(flows)
        for lot_id in lot_ids:
            delivered = (
                allocated.get(lot_id, 0)
                - unallocated.get(lot_id, 0)
                + shelf.consumed.get(lot_id, 0)
            )
            out[lot_id] = (
                sku,
                LotFigures(
                    delivered,
                    shelf.remaining.get(lot_id, 0),
                    await uow.quality.defective_units(lot_id),
                ),
            )
    return out


def _spread(qty: int, parts: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """``qty`` units over the lots an order was allocated from, in allocation order
    (anything beyond stays on the last)."""
    out, left = [], qty
    for i, (lot_id, q) in enumerate(parts):
        take = left if i == len(parts) - 1 else min(left, q)
        if take > 0:
            out.append((lot_id, take))
            left -= take
    return out

"""Pre-orders meet real units: a passed lot is allocated to the orders waiting for it,
and phased runs propose their next batch.

When a lot of the run passes final QC its units are allocated to waiting pre-orders
first come, first served by payment time (``quality_control → committed`` movements),
the rest become ``available``. An order whose every unit is allocated is ready and is
handed to fulfilment (``ready_hook``).

A first batch with a reorder rule proposes the next batch once its sell-through reaches
the threshold within the window: an event and an ops alert, never an order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from dropline.domain.events import DomainEvent
from dropline.domain.stock.buckets import Bucket, Movement, Reason, safety_rebalance
from dropline.domain.supply.production import (
    PreorderStatus,
    ShipEstimate,
    Waiting,
    allocate_fifo,
    reorder_due,
    reorder_quantities,
)
from dropline.services.ports import Clock
from dropline.services.supply.preorders import estimate_dict, notice_payload
from dropline.store.live.order_records import OrderRecord
from dropline.store.uow import UnitOfWork, UowFactory


class PreorderAllocationService:
    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock
        # Set by bootstrap to fulfilment's hand-off: called when a pre-order's units
        # are all allocated, inside the allocating transaction.
        self.ready_hook: Callable[[UnitOfWork, OrderRecord], Awaitable[None]] | None = None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # ------------------------------------------------------------------ allocation
    async def allocate_lot(
        self, uow: UnitOfWork, lot: Mapping[str, Any], actor: str
    ) -> dict[str, int]:
        """Inside the QC gate's transaction: the lot passed. Its units go to waiting
        pre-orders of its run, first come first served by payment time
        (``quality_control → committed``, reason ``qc_pass``, ref the order), and the
        rest to ``available``. Orders whose every unit is allocated become ready."""
        sku_id, lot_id = lot["sku_id"], lot["id"]
        waiting = list(
            await uow.production.list_preorders(
                run_id=lot["run_id"], status=PreorderStatus.WAITING.value, sku_id=sku_id, lock=True
            )
        )
        by_id = {p.order_id: p for p in waiting}
        plan, left = allocate_fifo(
            int(lot["quantity"]),
            [
                Waiting(p.order_id, p.paid_at, p.lines[sku_id][0] - p.lines[sku_id][1])
                for p in waiting
                if sku_id in p.lines
            ],
        )
        movements = [
            Movement(
                sku_id,
                qty,
                Bucket.QUALITY_CONTROL,
                Bucket.COMMITTED,
                Reason.QC_PASS,
                order_id,
                actor,
                f"lot {lot_id} allocated to pre-order",
            )
            for order_id, qty in plan.items()
        ]
        if left:
            movements.append(
                Movement(
                    sku_id,
                    left,
                    Bucket.QUALITY_CONTROL,
                    Bucket.AVAILABLE,
                    Reason.QC_PASS,
                    lot_id,
                    actor,
                    "lot passed final inspection",
                )
            )
        levels = await uow.stock.apply(movements)
        sku = await uow.catalog.get_sku(sku_id)
        if sku is not None and left:
            rebalance = safety_rebalance(levels[sku_id], sku.safety_qty, sku.safety_pct)
            if rebalance is not None:
                await uow.stock.apply([rebalance])
        for order_id, qty in plan.items():
            await uow.production.allocate_line(order_id, sku_id, qty)
            await uow.production.add_allocation(lot_id, order_id, sku_id, qty)
            p = by_id[order_id]
            lines = dict(p.lines)
            q, a = lines[sku_id]
            lines[sku_id] = (q, a + qty)
            if all(a2 >= q2 for q2, a2 in lines.values()):
                await uow.production.update_preorder(p, status=PreorderStatus.READY.value)
                payload = notice_payload(
                    order_id, p.buyer_id, p.drop_id, p.run_id, {s: v[0] for s, v in lines.items()}
                )
                payload |= {
                    "lots": [lot_id],
                    "ship_estimate": estimate_dict(
                        ShipEstimate(p.estimate_earliest, p.estimate_latest)
                    ),
                }
                await uow.production.add_notice(order_id, "ready_to_fulfil", payload)
                uow.record(DomainEvent("preorder.ready_to_fulfil", "order", order_id, 2, payload))
                if self.ready_hook is not None:
                    order = await uow.orders.get_order(order_id)
                    if order is not None:
                        await self.ready_hook(uow, order)
        return {**plan, "available": left}

    # ------------------------------------------------------------------ reorders
    async def check_reorders(self) -> list[str]:
        """Phased production: for each first batch with a reorder rule, propose the next
        batch once sell-through (pre-ordered units / planned units) reaches the
        threshold within the window. An event and an ops alert, never an order."""
        now = self._now()
        proposed: list[str] = []
        async with self.uow() as uow:
            for run in await uow.production.runs():
                if run["reorder_threshold_pct"] is None or run["reorder_proposed_at"] is not None:
                    continue
                lines = await uow.production.run_lines(run["id"])
                planned = {ln.sku_id: ln.quantity for ln in lines}
                sold: dict[str, int] = {}
                for p in await uow.production.list_preorders(run_id=run["id"]):
                    if p.status == PreorderStatus.CANCELLED.value:
                        continue
                    for s, (q, _) in p.lines.items():
                        sold[s] = sold.get(s, 0) + q
                if not reorder_due(
                    planned=sum(planned.values()),
                    sold=sum(sold.values()),
                    threshold_pct=int(run["reorder_threshold_pct"]),
                    window_days=int(run["reorder_window_days"]),
                    started=run["created_at"],
                    now=now,
                ):
                    continue
                suggestion = reorder_quantities(planned, sold, {ln.sku_id: ln.moq for ln in lines})
                await uow.production.update_run(run["id"], reorder_proposed_at=now)
                payload = {
                    "run_id": run["id"],
                    "manufacturer_id": run["manufacturer_id"],
                    "sell_through_pct": round(100 * sum(sold.values()) / sum(planned.values())),
                    "sold": sold,
                    "planned": planned,
                    "suggested_quantities": suggestion,
                    "note": "a proposal only: nothing is ordered automatically",
                }
                uow.record(DomainEvent("production.reorder_proposed", "run", run["id"], 1, payload))
                uow.record(
                    DomainEvent(
                        "ops.alert",
                        "run",
                        run["id"],
                        1,
                        {"kind": "reorder_proposed", "severity": "info", **payload},
                    )
                )
                proposed.append(run["id"])
            await uow.commit()
        return proposed

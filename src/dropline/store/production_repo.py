"""Manufacturers, production runs, milestones, lots, QC records and pre-orders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from dropline.domain.errors import Conflict
from dropline.domain.production import RunLine
from dropline.store.base import Repository
from dropline.store.tables import drop_offers, orders
from dropline.store.tables_production import (
    golden_samples,
    inspection_photos,
    inspections,
    lot_allocations,
    lots,
    manufacturers,
    milestone_changes,
    preorder_lines,
    preorder_notices,
    preorder_offers,
    preorders,
    production_run_lines,
    production_runs,
    qc_spec_versions,
    run_milestones,
    switching_states,
)


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


@dataclass(frozen=True)
class PreorderOfferRecord:
    drop_id: str
    sku_id: str
    run_id: str
    closes_at: datetime
    payment_mode: str
    cap: int
    sold: int


@dataclass(frozen=True)
class PreorderRecord:
    order_id: str
    drop_id: str
    buyer_id: str
    run_id: str
    payment_mode: str
    captured: bool
    authorization_expires_at: datetime | None
    status: str
    paid_at: datetime
    promised_ship_by: datetime | None
    estimate_earliest: datetime | None
    estimate_latest: datetime | None
    consent: str
    consent_deadline: datetime | None
    cancelled_at: datetime | None
    refunded_at: datetime | None
    version: int
    lines: dict[str, tuple[int, int]] = field(default_factory=dict)  # sku → (qty, allocated)


def _preorder(r: Any, lines: dict[str, tuple[int, int]]) -> PreorderRecord:
    return PreorderRecord(
        r.order_id,
        r.drop_id,
        r.buyer_id,
        r.run_id,
        r.payment_mode,
        bool(r.captured),
        r.authorization_expires_at,
        r.status,
        r.paid_at,
        r.promised_ship_by,
        r.estimate_earliest,
        r.estimate_latest,
        r.consent,
        r.consent_deadline,
        r.cancelled_at,
        r.refunded_at,
        r.version,
        lines,
    )


class ProductionRepository(Repository):
    # ----------------------------------------------------------------- manufacturers
    async def add_manufacturer(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(manufacturers).values(**values, created_at=self.now()))

    async def manufacturer(self, manufacturer_id: str) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(
                select(manufacturers).where(manufacturers.c.id == manufacturer_id)
            )
        ).first()
        return _row(row) if row else None

    async def manufacturers(self) -> list[dict[str, Any]]:
        rows = await self.conn.execute(select(manufacturers).order_by(manufacturers.c.name))
        return [_row(r) for r in rows]

    # ----------------------------------------------------------------- runs
    async def add_run(self, values: Mapping[str, Any], lines: Sequence[RunLine]) -> None:
        await self.conn.execute(insert(production_runs).values(**values, created_at=self.now()))
        await self.conn.execute(
            insert(production_run_lines),
            [
                {
                    "run_id": values["id"],
                    "sku_id": ln.sku_id,
                    "quantity": ln.quantity,
                    "moq": ln.moq,
                    "cost_tiers": [list(t) for t in ln.tiers],
                }
                for ln in lines
            ],
        )

    async def run(self, run_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        stmt = select(production_runs).where(production_runs.c.id == run_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _row(row) if row else None

    async def runs(self) -> list[dict[str, Any]]:
        rows = await self.conn.execute(select(production_runs).order_by(production_runs.c.id))
        return [_row(r) for r in rows]

    async def update_run(self, run_id: str, **values: Any) -> None:
        await self.conn.execute(
            update(production_runs).where(production_runs.c.id == run_id).values(**values)
        )

    async def run_lines(self, run_id: str) -> list[RunLine]:
        rows = await self.conn.execute(
            select(production_run_lines)
            .where(production_run_lines.c.run_id == run_id)
            .order_by(production_run_lines.c.sku_id)
        )
        return [
            RunLine(
                r.sku_id,
                int(r.quantity),
                int(r.moq),
                tuple((int(a), int(b)) for a, b in r.cost_tiers),
            )
            for r in rows
        ]

    # ----------------------------------------------------------------- milestones
    async def milestones(self, run_id: str) -> dict[str, dict[str, Any]]:
        rows = await self.conn.execute(
            select(run_milestones).where(run_milestones.c.run_id == run_id)
        )
        return {r.kind: _row(r) for r in rows}

    async def upsert_milestone(self, run_id: str, kind: str, values: Mapping[str, Any]) -> None:
        exists = (
            await self.conn.execute(
                select(run_milestones.c.kind).where(
                    run_milestones.c.run_id == run_id, run_milestones.c.kind == kind
                )
            )
        ).first()
        if exists:
            await self.conn.execute(
                update(run_milestones)
                .where(run_milestones.c.run_id == run_id, run_milestones.c.kind == kind)
                .values(**values)
            )
        else:
            await self.conn.execute(
                insert(run_milestones).values(run_id=run_id, kind=kind, **values)
            )

    async def add_milestone_change(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(milestone_changes).values(**values, changed_at=self.now()))

    async def milestone_changes(self, run_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(milestone_changes)
            .where(milestone_changes.c.run_id == run_id)
            .order_by(milestone_changes.c.seq)
        )
        return [_row(r) for r in rows]

    # ----------------------------------------------------------------- lots
    async def add_lot(self, values: Mapping[str, Any]) -> None:
        now = self.now()
        await self.conn.execute(
            insert(lots).values(**values, received_at=now, updated_at=now, version=1)
        )

    async def lot(self, lot_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        stmt = select(lots).where(lots.c.id == lot_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _row(row) if row else None

    async def lots(self, run_id: str | None = None) -> list[dict[str, Any]]:
        stmt = select(lots).order_by(lots.c.received_at, lots.c.id)
        if run_id:
            stmt = stmt.where(lots.c.run_id == run_id)
        return [_row(r) for r in await self.conn.execute(stmt)]

    async def set_lot_status(self, lot: Mapping[str, Any], status: str, note: str = "") -> None:
        """Compare-and-set on the version: two sign-offs cannot both move a lot."""
        result = await self.conn.execute(
            update(lots)
            .where(lots.c.id == lot["id"], lots.c.version == lot["version"])
            .values(
                status=status,
                disposition_note=note,
                updated_at=self.now(),
                version=lot["version"] + 1,
            )
        )
        if result.rowcount != 1:
            raise Conflict("the lot changed concurrently; reload and retry", lot_id=lot["id"])

    # ----------------------------------------------------------------- QC specs
    async def spec_versions(self, spec_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(qc_spec_versions)
            .where(qc_spec_versions.c.spec_id == spec_id)
            .order_by(qc_spec_versions.c.version)
        )
        return [_row(r) for r in rows]

    async def spec_version(self, spec_id: str, version: int) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(
                select(qc_spec_versions).where(
                    qc_spec_versions.c.spec_id == spec_id, qc_spec_versions.c.version == version
                )
            )
        ).first()
        return _row(row) if row else None

    async def add_spec_version(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(qc_spec_versions).values(**values, created_at=self.now()))

    async def freeze_spec_version(self, spec_id: str, version: int, by: str) -> None:
        await self.conn.execute(
            update(qc_spec_versions)
            .where(
                qc_spec_versions.c.spec_id == spec_id,
                qc_spec_versions.c.version == version,
                qc_spec_versions.c.frozen_at.is_(None),
            )
            .values(frozen_at=self.now(), frozen_by=by)
        )

    async def add_golden_sample(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(golden_samples).values(**values, registered_at=self.now()))

    async def golden_sample(self, sample_id: str) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(select(golden_samples).where(golden_samples.c.id == sample_id))
        ).first()
        return _row(row) if row else None

    async def approve_golden_sample(self, sample_id: str, by: str, note: str) -> bool:
        result = await self.conn.execute(
            update(golden_samples)
            .where(golden_samples.c.id == sample_id, golden_samples.c.approved_at.is_(None))
            .values(approved_by=by, approved_at=self.now(), approval_note=note)
        )
        return result.rowcount == 1

    async def golden_samples(self, spec_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(golden_samples)
            .where(golden_samples.c.spec_id == spec_id)
            .order_by(golden_samples.c.registered_at)
        )
        return [_row(r) for r in rows]

    # ----------------------------------------------------------------- inspections
    async def add_inspection(self, values: Mapping[str, Any]) -> None:
        """Insert an inspection numbered ``attempt`` = 1 + earlier inspections of the lot
        (the caller holds the lot's lock), so a lot's history has a stable order."""
        count = (
            await self.conn.execute(
                select(func.count()).where(inspections.c.lot_id == values["lot_id"])
            )
        ).scalar_one()
        await self.conn.execute(
            insert(inspections).values(**values, attempt=int(count) + 1, created_at=self.now())
        )

    async def inspection(self, inspection_id: str) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(select(inspections).where(inspections.c.id == inspection_id))
        ).first()
        return _row(row) if row else None

    async def inspections(self, lot_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(inspections)
            .where(inspections.c.lot_id == lot_id)
            .order_by(inspections.c.attempt)
        )
        return [_row(r) for r in rows]

    async def sign_off_inspection(self, inspection_id: str, approver: str) -> bool:
        result = await self.conn.execute(
            update(inspections)
            .where(inspections.c.id == inspection_id, inspections.c.signed_off_at.is_(None))
            .values(approver=approver, signed_off_at=self.now())
        )
        return result.rowcount == 1

    async def add_photo(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(inspection_photos).values(**values, created_at=self.now()))

    async def photos(self, inspection_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(inspection_photos)
            .where(inspection_photos.c.inspection_id == inspection_id)
            .order_by(inspection_photos.c.created_at, inspection_photos.c.id)
        )
        return [_row(r) for r in rows]

    async def switching_state(
        self, manufacturer_id: str, product_id: str, defect_class: str
    ) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(
                select(switching_states.c.state).where(
                    switching_states.c.manufacturer_id == manufacturer_id,
                    switching_states.c.product_id == product_id,
                    switching_states.c.defect_class == defect_class,
                )
            )
        ).first()
        return dict(row[0]) if row else None

    async def save_switching_state(
        self, manufacturer_id: str, product_id: str, defect_class: str, state: Mapping[str, Any]
    ) -> None:
        key = (
            switching_states.c.manufacturer_id == manufacturer_id,
            switching_states.c.product_id == product_id,
            switching_states.c.defect_class == defect_class,
        )
        result = await self.conn.execute(
            update(switching_states).where(*key).values(state=dict(state), updated_at=self.now())
        )
        if result.rowcount == 0:
            await self.conn.execute(
                insert(switching_states).values(
                    manufacturer_id=manufacturer_id,
                    product_id=product_id,
                    defect_class=defect_class,
                    state=dict(state),
                    updated_at=self.now(),
                )
            )

    # ----------------------------------------------------------------- pre-order offers
    async def add_preorder_offer(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(preorder_offers).values(**values, created_at=self.now()))

    async def update_preorder_offer(self, drop_id: str, sku_id: str, **values: Any) -> None:
        await self.conn.execute(
            update(preorder_offers)
            .where(preorder_offers.c.drop_id == drop_id, preorder_offers.c.sku_id == sku_id)
            .values(**values)
        )

    async def preorder_offers(
        self, drop_id: str | None = None, run_id: str | None = None
    ) -> list[PreorderOfferRecord]:
        stmt = select(preorder_offers, drop_offers.c.offered.label("cap"), drop_offers.c.sold).join(
            drop_offers,
            (drop_offers.c.drop_id == preorder_offers.c.drop_id)
            & (drop_offers.c.sku_id == preorder_offers.c.sku_id),
        )
        if drop_id:
            stmt = stmt.where(preorder_offers.c.drop_id == drop_id)
        if run_id:
            stmt = stmt.where(preorder_offers.c.run_id == run_id)
        stmt = stmt.order_by(preorder_offers.c.drop_id, preorder_offers.c.sku_id)
        return [
            PreorderOfferRecord(
                r.drop_id,
                r.sku_id,
                r.run_id,
                r.closes_at,
                r.payment_mode,
                int(r.cap),
                int(r.sold),
            )
            for r in await self.conn.execute(stmt)
        ]

    async def promised_units(self, run_id: str, sku_id: str, exclude_drop: str) -> int:
        """Caps of this run's other pre-order offers for the SKU (units promised elsewhere)."""
        stmt = (
            select(func.coalesce(func.sum(drop_offers.c.offered), 0))
            .select_from(
                preorder_offers.join(
                    drop_offers,
                    (drop_offers.c.drop_id == preorder_offers.c.drop_id)
                    & (drop_offers.c.sku_id == preorder_offers.c.sku_id),
                )
            )
            .where(
                preorder_offers.c.run_id == run_id,
                preorder_offers.c.sku_id == sku_id,
                preorder_offers.c.drop_id != exclude_drop,
            )
        )
        return int((await self.conn.execute(stmt)).scalar_one())

    # ----------------------------------------------------------------- pre-orders
    async def add_preorder(self, values: Mapping[str, Any], lines: Mapping[str, int]) -> None:
        await self.conn.execute(insert(preorders).values(**values, version=1))
        await self.conn.execute(
            insert(preorder_lines),
            [
                {"order_id": values["order_id"], "sku_id": s, "quantity": q, "allocated": 0}
                for s, q in sorted(lines.items())
            ],
        )

    async def _lines(self, order_ids: Sequence[str]) -> dict[str, dict[str, tuple[int, int]]]:
        if not order_ids:
            return {}
        rows = await self.conn.execute(
            select(preorder_lines).where(preorder_lines.c.order_id.in_(list(order_ids)))
        )
        out: dict[str, dict[str, tuple[int, int]]] = {}
        for r in rows:
            out.setdefault(r.order_id, {})[r.sku_id] = (int(r.quantity), int(r.allocated))
        return out

    async def preorder(self, order_id: str, *, lock: bool = False) -> PreorderRecord | None:
        stmt = select(preorders).where(preorders.c.order_id == order_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            return None
        return _preorder(row, (await self._lines([order_id])).get(order_id, {}))

    async def list_preorders(
        self,
        *,
        run_id: str | None = None,
        status: str | None = None,
        drop_id: str | None = None,
        sku_id: str | None = None,
        lock: bool = False,
    ) -> list[PreorderRecord]:
        stmt = select(preorders).order_by(preorders.c.paid_at, preorders.c.order_id)
        if run_id:
            stmt = stmt.where(preorders.c.run_id == run_id)
        if status:
            stmt = stmt.where(preorders.c.status == status)
        if drop_id:
            stmt = stmt.where(preorders.c.drop_id == drop_id)
        if sku_id:
            stmt = stmt.where(
                preorders.c.order_id.in_(
                    select(preorder_lines.c.order_id).where(preorder_lines.c.sku_id == sku_id)
                )
            )
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        rows = list(await self.conn.execute(stmt))
        lines = await self._lines([r.order_id for r in rows])
        return [_preorder(r, lines.get(r.order_id, {})) for r in rows]

    async def due_consent_deadlines(self, now: datetime, limit: int = 100) -> list[PreorderRecord]:
        stmt = (
            select(preorders)
            .where(
                preorders.c.status == "waiting",
                preorders.c.consent == "required",
                preorders.c.consent_deadline <= now,
            )
            .order_by(preorders.c.consent_deadline)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(await self.conn.execute(stmt))
        lines = await self._lines([r.order_id for r in rows])
        return [_preorder(r, lines.get(r.order_id, {})) for r in rows]

    async def expiring_authorizations(self, before: datetime) -> list[PreorderRecord]:
        stmt = select(preorders).where(
            preorders.c.status.in_(["waiting", "ready"]),
            preorders.c.captured.is_(False),
            preorders.c.authorization_expires_at <= before,
        )
        rows = list(await self.conn.execute(stmt))
        lines = await self._lines([r.order_id for r in rows])
        return [_preorder(r, lines.get(r.order_id, {})) for r in rows]

    async def update_preorder(self, p: PreorderRecord, **values: Any) -> None:
        """Compare-and-set on the version, so a buyer's answer and the deadline job
        cannot both act on one order."""
        result = await self.conn.execute(
            update(preorders)
            .where(preorders.c.order_id == p.order_id, preorders.c.version == p.version)
            .values(**values, version=p.version + 1)
        )
        if result.rowcount != 1:
            raise Conflict("the pre-order changed concurrently; retry", order_id=p.order_id)

    async def allocate_line(self, order_id: str, sku_id: str, quantity: int) -> None:
        await self.conn.execute(
            update(preorder_lines)
            .where(preorder_lines.c.order_id == order_id, preorder_lines.c.sku_id == sku_id)
            .values(allocated=preorder_lines.c.allocated + quantity)
        )

    async def add_allocation(self, lot_id: str, order_id: str, sku_id: str, qty: int) -> None:
        await self.conn.execute(
            insert(lot_allocations).values(
                lot_id=lot_id,
                order_id=order_id,
                sku_id=sku_id,
                quantity=qty,
                allocated_at=self.now(),
            )
        )

    async def allocations(
        self, *, lot_id: str | None = None, order_id: str | None = None
    ) -> list[dict[str, Any]]:
        stmt = select(lot_allocations).order_by(
            lot_allocations.c.allocated_at, lot_allocations.c.order_id
        )
        if lot_id:
            stmt = stmt.where(lot_allocations.c.lot_id == lot_id)
        if order_id:
            stmt = stmt.where(lot_allocations.c.order_id == order_id)
        return [_row(r) for r in await self.conn.execute(stmt)]

    async def buyer_preordered(self, drop_id: str) -> dict[str, dict[str, int]]:
        """Units each buyer pre-ordered per SKU in the drop (not cancelled), for limits."""
        stmt = (
            select(
                preorders.c.buyer_id, preorder_lines.c.sku_id, func.sum(preorder_lines.c.quantity)
            )
            .join(preorder_lines, preorder_lines.c.order_id == preorders.c.order_id)
            .where(preorders.c.drop_id == drop_id, preorders.c.status != "cancelled")
            .group_by(preorders.c.buyer_id, preorder_lines.c.sku_id)
        )
        out: dict[str, dict[str, int]] = {}
        for buyer, sku, qty in await self.conn.execute(stmt):
            out.setdefault(buyer, {})[sku] = int(qty)
        return out

    # ----------------------------------------------------------------- notices
    async def add_notice(self, order_id: str, kind: str, payload: Mapping[str, Any]) -> None:
        await self.conn.execute(
            insert(preorder_notices).values(
                order_id=order_id, kind=kind, payload=dict(payload), created_at=self.now()
            )
        )

    async def notices(self, order_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(preorder_notices)
            .where(preorder_notices.c.order_id == order_id)
            .order_by(preorder_notices.c.seq)
        )
        return [_row(r) for r in rows]

    async def order_ids_for_lot(self, lot_id: str) -> list[str]:
        rows = await self.conn.execute(
            select(lot_allocations.c.order_id)
            .join(orders, orders.c.id == lot_allocations.c.order_id)
            .where(lot_allocations.c.lot_id == lot_id)
            .order_by(lot_allocations.c.order_id)
        )
        return [r[0] for r in rows]

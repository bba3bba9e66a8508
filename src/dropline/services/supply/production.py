"""Manufacturers, production runs, milestones and receiving lots into quality control.

A run's warehouse-intake milestone drives every pre-order's ship-date estimate, so a
change of that date re-estimates the run's pre-orders (and sends delay notices) in the
same transaction as the change itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dropline.domain.errors import BelowMoq, Conflict, InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.domain.money import check_currency
from dropline.domain.stock.buckets import MAX_QUANTITY, Bucket, Movement, Reason
from dropline.domain.supply.production import (
    MAX_HANDLING_DAYS,
    Milestone,
    RunLine,
    check_milestone_order,
    check_moq,
    parse_enum,
    unit_cost,
    validate_lines,
)
from dropline.services.ports import Clock
from dropline.services.supply.preorder_lifecycle import PreorderLifecycleService
from dropline.services.supply.preorders import run_estimate
from dropline.store.uow import UnitOfWork, UowFactory

MAX_TEXT = 2000


def _text(value: str, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{field} is required", field=field)
    if len(value) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters", field=field)
    return value


class ProductionService:
    def __init__(self, uow: UowFactory, clock: Clock, lifecycle: PreorderLifecycleService) -> None:
        self.uow = uow
        self.clock = clock
        self.lifecycle = lifecycle

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # ------------------------------------------------------------------ manufacturers
    async def create_manufacturer(
        self,
        name: str,
        *,
        contacts: Sequence[Mapping[str, str]] = (),
        sample_approver: str = "",
        escalation_contact: str = "",
        default_lead_time_days: int = 0,
        notes: str = "",
    ) -> dict[str, Any]:
        """Register a manufacturer: who to talk to, who signs off samples, who to
        escalate to, and the usual lead time (used when planning milestones)."""
        if not 0 <= default_lead_time_days <= 730:
            raise InvalidInput("default_lead_time_days must be between 0 and 730")
        clean_contacts = [
            {k: _text(str(v), f"contacts.{k}", limit=200) for k, v in c.items()} for c in contacts
        ]
        mfr_id = new_id("mfr")
        values: dict[str, Any] = {
            "id": mfr_id,
            "name": _text(name, "name", required=True, limit=200),
            "contacts": clean_contacts,
            "sample_approver": _text(sample_approver, "sample_approver", limit=200),
            "escalation_contact": _text(escalation_contact, "escalation_contact", limit=200),
            "default_lead_time_days": default_lead_time_days,
            "notes": _text(notes, "notes"),
        }
        async with self.uow() as uow:
            await uow.production.add_manufacturer(values)
            got = await uow.production.manufacturer(mfr_id)
            await uow.commit()
        assert got is not None
        return got

    async def manufacturer(self, manufacturer_id: str) -> dict[str, Any]:
        async with self.uow(readonly=True) as uow:
            got = await uow.production.manufacturer(manufacturer_id)
        if got is None:
            raise NotFound(f"manufacturer {manufacturer_id} not found")
        return got

    async def manufacturers(self) -> list[dict[str, Any]]:
        async with self.uow(readonly=True) as uow:
            return await uow.production.manufacturers()

    # ------------------------------------------------------------------ runs
    async def create_run(
        self,
        manufacturer_id: str,
        name: str,
        currency: str,
        lines: Sequence[RunLine],
        *,
        moq: int = 0,
        deposit_amount: int = 0,
        handling_min_days: int = 2,
        handling_max_days: int = 5,
        moq_override_reason: str = "",
        qc_spec: tuple[str, int] | None = None,
        previous_run_id: str | None = None,
        reorder_threshold_pct: int | None = None,
        reorder_window_days: int | None = None,
        actor: str = "",
    ) -> dict[str, Any]:
        """Create a production run. A run under its MOQ (a line under its SKU's MOQ or the
        total under the run's) raises ``BelowMoq`` with the shortfall, unless
        ``moq_override_reason`` says why it is made anyway (recorded with the actor).

        ``qc_spec`` must be a frozen (golden-sample approved) spec version.
        ``reorder_threshold_pct``/``reorder_window_days`` make it a phased first batch."""
        validate_lines(lines)
        if not 0 <= deposit_amount <= 10_000_000_000:
            raise InvalidInput("deposit_amount must be between 0 and 10,000,000,000")
        if not 0 <= handling_min_days <= handling_max_days <= MAX_HANDLING_DAYS:
            raise InvalidInput("handling days must satisfy 0 <= min <= max <= 365")
        if (reorder_threshold_pct is None) != (reorder_window_days is None):
            raise InvalidInput("a reorder rule needs both a threshold and a window")
        if reorder_threshold_pct is not None and not 1 <= reorder_threshold_pct <= 100:
            raise InvalidInput("reorder_threshold_pct must be between 1 and 100")
        if reorder_window_days is not None and not 1 <= reorder_window_days <= 365:
            raise InvalidInput("reorder_window_days must be between 1 and 365")
        override = _text(moq_override_reason, "moq_override_reason")
        shortfall = check_moq(lines, moq)
        if not shortfall.ok and not override:
            raise BelowMoq(
                "the run is under its minimum order quantity; raise the quantities or "
                "override with a reason",
                shortfall={"per_sku": dict(shortfall.per_sku), "run": shortfall.run},
            )
        run_id = new_id("run")
        async with self.uow() as uow:
            if await uow.production.manufacturer(manufacturer_id) is None:
                raise NotFound(f"manufacturer {manufacturer_id} not found")
            skus = await uow.catalog.get_skus([ln.sku_id for ln in lines])
            for ln in lines:
                if ln.sku_id not in skus:
                    raise NotFound(f"SKU {ln.sku_id} not found", sku_id=ln.sku_id)
            if qc_spec is not None:
                await self._check_frozen(uow, *qc_spec, {s.product_id for s in skus.values()})
            if previous_run_id and await uow.production.run(previous_run_id) is None:
                raise NotFound(f"run {previous_run_id} not found")
            await uow.production.add_run(
                {
                    "id": run_id,
                    "manufacturer_id": manufacturer_id,
                    "name": _text(name, "name", required=True, limit=200),
                    "currency": check_currency(currency),
                    "deposit_amount": deposit_amount,
                    "moq": moq,
                    "moq_override_reason": override if not shortfall.ok else None,
                    "moq_override_by": actor if not shortfall.ok else None,
                    "qc_spec_id": qc_spec[0] if qc_spec else None,
                    "qc_spec_version": qc_spec[1] if qc_spec else None,
                    "handling_min_days": handling_min_days,
                    "handling_max_days": handling_max_days,
                    "previous_run_id": previous_run_id,
                    "reorder_threshold_pct": reorder_threshold_pct,
                    "reorder_window_days": reorder_window_days,
                    "created_by": actor,
                },
                lines,
            )
            uow.record(
                DomainEvent(
                    "production.run_created",
                    "run",
                    run_id,
                    1,
                    {
                        "id": run_id,
                        "manufacturer_id": manufacturer_id,
                        "lines": {ln.sku_id: ln.quantity for ln in lines},
                        "moq_overridden": not shortfall.ok,
                        "moq_shortfall": {"per_sku": dict(shortfall.per_sku), "run": shortfall.run},
                        "override_reason": override if not shortfall.ok else None,
                        "actor": actor,
                    },
                )
            )
            view = await self._run_view(uow, run_id)
            await uow.commit()
        return view

    async def _check_frozen(
        self, uow: UnitOfWork, spec_id: str, version: int, products: set[str]
    ) -> None:
        """The spec version exists, is frozen, and is the spec of every SKU's product
        (one spec judges the run's lots and keys its switching state)."""
        spec = await uow.production.spec_version(spec_id, version)
        if spec is None:
            raise NotFound(f"QC spec {spec_id} version {version} not found")
        if products - {spec["product_id"]}:
            raise InvalidInput(
                "the QC spec is for another product than the run's SKUs",
                spec_product_id=spec["product_id"],
            )
        if spec["frozen_at"] is None:
            raise Conflict(
                "a run may only reference a QC spec version frozen by an approved golden sample",
                spec_id=spec_id,
                version=version,
            )

    async def set_qc_spec(self, run_id: str, spec_id: str, version: int) -> dict[str, Any]:
        """Point the run at an approved (frozen) spec version; its lots are judged by it."""
        async with self.uow() as uow:
            if await uow.production.run(run_id, lock=True) is None:
                raise NotFound(f"run {run_id} not found")
            lines = await uow.production.run_lines(run_id)
            skus = await uow.catalog.get_skus([ln.sku_id for ln in lines])
            await self._check_frozen(uow, spec_id, version, {s.product_id for s in skus.values()})
            await uow.production.update_run(run_id, qc_spec_id=spec_id, qc_spec_version=version)
            view = await self._run_view(uow, run_id)
            await uow.commit()
        return view

    async def run(self, run_id: str) -> dict[str, Any]:
        async with self.uow(readonly=True) as uow:
            return await self._run_view(uow, run_id)

    async def runs(self) -> list[dict[str, Any]]:
        async with self.uow(readonly=True) as uow:
            return [await self._run_view(uow, r["id"]) for r in await uow.production.runs()]

    async def _run_view(self, uow: UnitOfWork, run_id: str) -> dict[str, Any]:
        run = await uow.production.run(run_id)
        if run is None:
            raise NotFound(f"run {run_id} not found")
        lines = await uow.production.run_lines(run_id)
        received: dict[str, int] = {}
        for lot in await uow.production.lots(run_id):
            received[lot["sku_id"]] = received.get(lot["sku_id"], 0) + int(lot["quantity"])
        milestones = await uow.production.milestones(run_id)
        estimate = await run_estimate(uow, run_id)
        return {
            **run,
            "lines": [
                {
                    "sku_id": ln.sku_id,
                    "quantity": ln.quantity,
                    "moq": ln.moq,
                    "cost_tiers": [list(t) for t in ln.tiers],
                    "unit_cost": unit_cost(ln),
                    "received": received.get(ln.sku_id, 0),
                    "incoming": max(0, ln.quantity - received.get(ln.sku_id, 0)),
                }
                for ln in lines
            ],
            "milestones": [
                {
                    "kind": m.value,
                    "planned_at": milestones.get(m.value, {}).get("planned_at"),
                    "actual_at": milestones.get(m.value, {}).get("actual_at"),
                    "owner": milestones.get(m.value, {}).get("owner", ""),
                    "notes": milestones.get(m.value, {}).get("notes", ""),
                }
                for m in Milestone
            ],
            "ship_estimate": {"earliest": estimate.earliest, "latest": estimate.latest},
        }

    # ------------------------------------------------------------------ milestones
    async def set_milestone(
        self,
        run_id: str,
        kind: str,
        *,
        actor: str,
        planned_at: datetime | None = None,
        clear_planned: bool = False,
        actual_at: datetime | None = None,
        owner: str | None = None,
        notes: str | None = None,
        reason: str = "",
    ) -> dict[str, Any]:
        """Set a milestone's dates, owner or notes. Changing a planned date that was
        already set needs a reason and records who, when and why; ``clear_planned``
        makes the date unknown (an indefinite delay). A change of the warehouse-intake
        date re-estimates the run's pre-orders and sends delay notices.

        Raises ``MilestoneOutOfOrder`` (422, nothing written) when the change would put
        final QC after the warehouse intake (each judged by its actual date when known,
        else its planned one)."""
        milestone = parse_enum(Milestone, kind, "kind")
        if planned_at is not None and clear_planned:
            raise InvalidInput("give planned_at or clear_planned, not both")
        for dt in (planned_at, actual_at):
            if dt is not None and dt.tzinfo is None:
                raise InvalidInput("milestone times need a time zone (use Z for UTC)")
        reason = _text(reason, "reason")
        actor = _text(actor, "actor", required=True, limit=120)
        async with self.uow() as uow:
            run = await uow.production.run(run_id, lock=True)
            if run is None:
                raise NotFound(f"run {run_id} not found")
            every = await uow.production.milestones(run_id)
            current = every.get(milestone.value, {})
            values: dict[str, Any] = {}
            changes: list[dict[str, Any]] = []
            for field, new in (("planned_at", planned_at), ("actual_at", actual_at)):
                old = current.get(field)
                clearing = field == "planned_at" and clear_planned
                if (new is None and not clearing) or new == old:
                    continue
                if old is not None and not reason:
                    raise InvalidInput(
                        f"changing the {field.replace('_at', '')} date needs a reason",
                        field="reason",
                    )
                values[field] = new
                changes.append(
                    {
                        "run_id": run_id,
                        "kind": milestone.value,
                        "field": field.replace("_at", ""),
                        "old_value": old,
                        "new_value": new,
                        "actor": actor,
                        "reason": reason or "first set",
                    }
                )
            changed_dates = bool(changes)
            if changed_dates:
                after = {**every, milestone.value: {**current, **values}}
                check_milestone_order(
                    {
                        m: after.get(m.value, {}).get("actual_at")
                        or after.get(m.value, {}).get("planned_at")
                        for m in Milestone
                    },
                    milestone,
                )
            for change in changes:
                await uow.production.add_milestone_change(change)
            if owner is not None:
                values["owner"] = _text(owner, "owner", limit=120)
            if notes is not None:
                values["notes"] = _text(notes, "notes")
            if not values:
                return await self._run_view(uow, run_id)
            await uow.production.upsert_milestone(run_id, milestone.value, values)
            if changed_dates:
                uow.record(
                    DomainEvent(
                        "production.milestone_changed",
                        "run",
                        run_id,
                        1,
                        {
                            "run_id": run_id,
                            "kind": milestone.value,
                            "planned_at": _iso(values.get("planned_at", current.get("planned_at"))),
                            "actual_at": _iso(values.get("actual_at", current.get("actual_at"))),
                            "actor": actor,
                            "reason": reason,
                        },
                    )
                )
            if changed_dates and milestone is Milestone.WAREHOUSE_INTAKE:
                await self.lifecycle.reestimate(uow, run_id, reason=reason or "schedule set")
            view = await self._run_view(uow, run_id)
            await uow.commit()
        self.lifecycle.invalidate_run(run_id)
        return view

    async def milestone_history(self, run_id: str) -> list[dict[str, Any]]:
        async with self.uow(readonly=True) as uow:
            if await uow.production.run(run_id) is None:
                raise NotFound(f"run {run_id} not found")
            return await uow.production.milestone_changes(run_id)

    # ------------------------------------------------------------------ receiving
    async def receive(
        self, run_id: str, sku_id: str, quantity: int, batch_number: str, *, actor: str
    ) -> dict[str, Any]:
        """Units of a run arrive: a lot is created and its units go into
        ``quality_control``, never straight into ``available``; only a signed-off final
        inspection lets them out."""
        if not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidInput("quantity must be between 1 and 10,000,000")
        batch = _text(batch_number, "batch_number", required=True, limit=80)
        lot_id = new_id("lot")
        async with self.uow() as uow:
            run = await uow.production.run(run_id, lock=True)
            if run is None:
                raise NotFound(f"run {run_id} not found")
            if sku_id not in {ln.sku_id for ln in await uow.production.run_lines(run_id)}:
                raise InvalidInput(f"SKU {sku_id} is not made in this run", sku_id=sku_id)
            await uow.production.add_lot(
                {
                    "id": lot_id,
                    "run_id": run_id,
                    "sku_id": sku_id,
                    "batch_number": batch,
                    "quantity": quantity,
                    "status": "quality_control",
                    "received_by": actor,
                }
            )
            await uow.stock.apply(
                [
                    Movement(
                        sku_id,
                        quantity,
                        None,
                        Bucket.QUALITY_CONTROL,
                        Reason.RECEIPT,
                        lot_id,
                        actor,
                        f"run {run_id} batch {batch}",
                    )
                ]
            )
            uow.record(
                DomainEvent(
                    "production.lot_received",
                    "lot",
                    lot_id,
                    1,
                    {
                        "lot_id": lot_id,
                        "run_id": run_id,
                        "sku_id": sku_id,
                        "batch_number": batch,
                        "quantity": quantity,
                    },
                )
            )
            lot = await uow.production.lot(lot_id)
            await uow.commit()
        assert lot is not None
        return lot


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return None

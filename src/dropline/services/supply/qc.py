"""Quality control: inspections, sign-off, the switching rules and the stock gate.

- An inspection of a lot computes each defect class's single sampling plan from the lot
  size, the spec's inspection level and the class's AQL, at the severity (normal,
  tightened, reduced) the switching rules put that class in for the manufacturer and
  product (``dropline.domain.supply.aql``). The verdict is per class from Ac/Re, on the
  nonconformities reported plus every measurement out of tolerance and every failed
  check of the class (``dropline.domain.supply.qc.judge_inspection``).
- The gate: only a signed-off *final* inspection moves stock. Accept → the lot's units
  leave ``quality_control`` (to waiting pre-orders first, then ``available``) as
  ``qc_pass`` movements. Reject → the units stay out of sale until a disposition:
  rework (stay in ``quality_control``, re-inspect), return to manufacturer (leave the
  building) or scrap (to ``damaged``), the last two as ``qc_fail`` movements.

Specs and golden samples are ``services.qc_specs``; photos and traceability
``services.qc_trace``; the pure rules ``dropline.domain.supply.qc``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dropline.domain.errors import (
    Conflict,
    InspectionDiscontinued,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.domain.supply.aql import DefectClass, InspectionLevel, Severity, sampling_plan
from dropline.domain.supply.production import parse_enum
from dropline.domain.supply.qc import (
    INSPECTABLE,
    Disposition,
    LotStatus,
    Stage,
    disposition_outcome,
    judge_checks,
    judge_inspection,
    judge_measurements,
    switching_state_dict,
    switching_state_from,
)
from dropline.services.supply.preorder_allocation import PreorderAllocationService
from dropline.store.uow import UnitOfWork, UowFactory


class QcService:
    def __init__(self, uow: UowFactory, preorders: PreorderAllocationService) -> None:
        self.uow = uow
        self.preorders = preorders

    # ------------------------------------------------------------------ inspections
    async def _context(
        self, uow: UnitOfWork, lot: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any], str]:
        run = await uow.production.run(lot["run_id"])
        assert run is not None
        if run["qc_spec_id"] is None:
            raise Conflict(
                "the lot's run has no approved QC spec; set one before inspecting",
                run_id=run["id"],
            )
        spec = await uow.production.spec_version(run["qc_spec_id"], int(run["qc_spec_version"]))
        assert spec is not None
        return run, spec, spec["product_id"]

    async def plan(self, lot_id: str, stage: str = Stage.FINAL_RANDOM.value) -> dict[str, Any]:
        """The sampling plan an inspector must follow for this lot, per defect class."""
        parse_enum(Stage, stage, "stage")
        async with self.uow(readonly=True) as uow:
            lot = await uow.production.lot(lot_id)
            if lot is None:
                raise NotFound(f"lot {lot_id} not found")
            run, spec, product_id = await self._context(uow, lot)
            plans = await self._plans(uow, lot, run, spec, product_id)
        return {
            "lot_id": lot_id,
            "lot_size": int(lot["quantity"]),
            "level": spec["content"]["inspection_level"],
            "sample_size": max(p["sample_size"] for p in plans.values()),
            "classes": list(plans.values()),
        }

    async def _plans(
        self,
        uow: UnitOfWork,
        lot: Mapping[str, Any],
        run: Mapping[str, Any],
        spec: Mapping[str, Any],
        product_id: str,
    ) -> dict[str, dict[str, Any]]:
        level = InspectionLevel(spec["content"]["inspection_level"])
        out: dict[str, dict[str, Any]] = {}
        for cls, aql in spec["content"]["aqls"].items():
            state = switching_state_from(
                await uow.production.switching_state(run["manufacturer_id"], product_id, cls)
            )
            p = sampling_plan(int(lot["quantity"]), level, aql, state.severity)
            out[cls] = {
                "defect_class": cls,
                "aql": p.aql,
                "severity": p.severity.value,
                "discontinued": state.discontinued,
                "code_letter": p.code_letter,
                "plan_letter": p.plan_letter,
                "sample_size": p.sample_size,
                "accept": p.accept,
                "reject": p.reject,
                "hundred_percent": p.hundred_percent,
            }
        return out

    async def inspect(
        self,
        lot_id: str,
        stage: str,
        defects: Mapping[str, int],
        *,
        inspector: str,
        measurements: Sequence[Mapping[str, Any]] = (),
        checks: Sequence[Mapping[str, Any]] = (),
        defect_notes: Mapping[str, str] | None = None,
        notes: str = "",
    ) -> dict[str, Any]:
        """Record an inspection of a lot: ``defects`` found per class besides the
        measurements (each judged against the spec's nominal ± tolerance) and the
        attribute/packaging check results. Each reading out of tolerance and each failed
        check is one more nonconformity of its class, and the verdict is per class from
        its plan's Ac/Re on the total (``judge_inspection``), so a lot out of tolerance
        cannot pass. Nothing moves until the inspection is signed off (``sign_off``)."""
        st = parse_enum(Stage, stage, "stage")
        inspector = inspector.strip()
        if not inspector:
            raise InvalidInput("an inspection needs the inspector's name", field="inspector")
        inspection_id = new_id("ins")
        async with self.uow() as uow:
            lot = await uow.production.lot(lot_id, lock=True)
            if lot is None:
                raise NotFound(f"lot {lot_id} not found")
            status = LotStatus(lot["status"])
            if status not in INSPECTABLE:
                raise Conflict(
                    f"a lot in status {status} cannot be inspected"
                    + (" (choose a disposition first)" if status is LotStatus.REJECTED else ""),
                    status=status.value,
                )
            run, spec, product_id = await self._context(uow, lot)
            plans = await self._plans(uow, lot, run, spec, product_id)
            stopped = [c for c, p in plans.items() if p["discontinued"]]
            if stopped and st is Stage.FINAL_RANDOM:
                raise InspectionDiscontinued(
                    "inspection of this manufacturer's product is discontinued after 5 lots "
                    "rejected on tightened inspection; resume after corrective action",
                    defect_classes=stopped,
                )
            level = InspectionLevel(spec["content"]["inspection_level"])
            measured = judge_measurements(spec["content"]["measurements"], measurements)
            check_results = judge_checks(spec["content"], checks)
            judged = judge_inspection(
                {
                    cls: sampling_plan(
                        int(lot["quantity"]), level, p["aql"], Severity(p["severity"])
                    )
                    for cls, p in plans.items()
                },
                defects,
                measured,
                check_results,
            )
            classes = [
                plans[j.defect_class]
                | {
                    "defects": j.found,
                    "reported_defects": j.reported,
                    "measurement_defects": j.measurements,
                    "check_defects": j.checks,
                    "accepted": j.verdict.accepted,
                    "reinstate_normal": j.verdict.reinstate_normal,
                    "note": str((defect_notes or {}).get(j.defect_class, ""))[:2000],
                }
                for j in judged.classes
            ]
            accepted = judged.accepted
            await uow.production.add_inspection(
                {
                    "id": inspection_id,
                    "lot_id": lot_id,
                    "stage": st.value,
                    "spec_id": spec["spec_id"],
                    "spec_version": int(spec["version"]),
                    "level": spec["content"]["inspection_level"],
                    "lot_size": int(lot["quantity"]),
                    "sample_size": max(c["sample_size"] for c in classes),
                    "resubmitted": status is LotStatus.REWORK,
                    "classes": classes,
                    "measurements": measured,
                    "checks": check_results,
                    "notes": notes[:2000],
                    "accepted": accepted,
                    "inspector": inspector,
                }
            )
            uow.record(
                DomainEvent(
                    "qc.inspection_recorded",
                    "lot",
                    lot_id,
                    int(lot["version"]),
                    {
                        "inspection_id": inspection_id,
                        "lot_id": lot_id,
                        "stage": st.value,
                        "accepted": accepted,
                    },
                )
            )
            got = await uow.production.inspection(inspection_id)
            await uow.commit()
        assert got is not None
        return got

    async def sign_off(
        self,
        inspection_id: str,
        *,
        approver: str,
        approve_reduced: bool = False,
        production_steady: bool = True,
    ) -> dict[str, Any]:
        """The approver signs the inspection off. For a final inspection this is the
        gate: accept → the lot's units leave ``quality_control`` (pre-orders first, FIFO
        by payment time, then ``available``); reject → the lot waits for a disposition.

        An original (not resubmitted) final inspection feeds the switching rules. The
        approver is the responsible authority: ``approve_reduced`` allows reduced
        inspection once the switching score reaches 30, and ``production_steady=False``
        (irregular or delayed production) blocks it or ends it."""
        approver = approver.strip()
        if not approver:
            raise InvalidInput("sign-off needs the approver's name", field="approver")
        async with self.uow() as uow:
            ins = await uow.production.inspection(inspection_id)
            if ins is None:
                raise NotFound(f"inspection {inspection_id} not found")
            lot = await uow.production.lot(ins["lot_id"], lock=True)
            assert lot is not None
            if not await uow.production.sign_off_inspection(inspection_id, approver):
                raise Conflict("this inspection is already signed off")
            allocation: dict[str, int] | None = None
            if ins["stage"] == Stage.FINAL_RANDOM.value:
                if LotStatus(lot["status"]) not in INSPECTABLE:
                    raise Conflict(
                        "the lot was already decided by another inspection", status=lot["status"]
                    )
                run, _spec, product_id = await self._context(uow, lot)
                if not ins["resubmitted"]:
                    await self._check_severity(uow, run["manufacturer_id"], product_id, ins)
                    await self._record_switching(
                        uow,
                        run["manufacturer_id"],
                        product_id,
                        ins,
                        approve_reduced=approve_reduced,
                        production_steady=production_steady,
                    )
                if ins["accepted"]:
                    await uow.production.set_lot_status(lot, LotStatus.PASSED.value)
                    allocation = await self.preorders.allocate_lot(uow, lot, approver)
                else:
                    await uow.production.set_lot_status(lot, LotStatus.REJECTED.value)
                uow.record(
                    DomainEvent(
                        "qc.lot_passed" if ins["accepted"] else "qc.lot_rejected",
                        "lot",
                        lot["id"],
                        int(lot["version"]) + 1,
                        {
                            "lot_id": lot["id"],
                            "run_id": lot["run_id"],
                            "sku_id": lot["sku_id"],
                            "quantity": int(lot["quantity"]),
                            "inspection_id": inspection_id,
                            "approver": approver,
                            "allocation": allocation,
                        },
                    )
                )
            got = await uow.production.inspection(inspection_id)
            await uow.commit()
        assert got is not None
        return got | {"allocation": allocation}

    async def _check_severity(
        self, uow: UnitOfWork, manufacturer_id: str, product_id: str, ins: Mapping[str, Any]
    ) -> None:
        """An original inspection is signed off only under the severity it was made at:
        when the switching rules moved on meanwhile (other lots' sign-offs made them
        tightened, say), its plan is not the one in force, so the lot is inspected
        again (``Conflict``; nothing changes, the lot stays inspectable)."""
        for c in ins["classes"]:
            state = switching_state_from(
                await uow.production.switching_state(manufacturer_id, product_id, c["defect_class"])
            )
            if c["severity"] != state.severity.value:
                raise Conflict(
                    f"this inspection used the {c['severity']} plan for {c['defect_class']} "
                    f"defects, but {state.severity.value} inspection is in force since; "
                    "inspect the lot again under the plan now in force",
                    defect_class=c["defect_class"],
                    inspected_severity=c["severity"],
                    severity_in_force=state.severity.value,
                )

    async def _record_switching(
        self,
        uow: UnitOfWork,
        manufacturer_id: str,
        product_id: str,
        ins: Mapping[str, Any],
        *,
        approve_reduced: bool,
        production_steady: bool,
    ) -> None:
        level = InspectionLevel(ins["level"])
        for c in ins["classes"]:
            cls = c["defect_class"]
            state = switching_state_from(
                await uow.production.switching_state(manufacturer_id, product_id, cls)
            )
            plan = sampling_plan(int(ins["lot_size"]), level, c["aql"], Severity(c["severity"]))
            try:
                nxt = state.record_lot(
                    plan,
                    int(c["defects"]),
                    production_steady=production_steady,
                    authority_approves_reduced=approve_reduced,
                )
            except InvalidTransition:
                continue
            await uow.production.save_switching_state(
                manufacturer_id, product_id, cls, switching_state_dict(nxt)
            )
            if nxt.severity is not state.severity or nxt.discontinued != state.discontinued:
                uow.record(
                    DomainEvent(
                        "qc.switching_changed",
                        "manufacturer",
                        manufacturer_id,
                        1,
                        {
                            "manufacturer_id": manufacturer_id,
                            "product_id": product_id,
                            "defect_class": cls,
                            "from": state.severity.value,
                            "to": nxt.severity.value,
                            "discontinued": nxt.discontinued,
                        },
                    )
                )

    async def switching(self, manufacturer_id: str, product_id: str) -> dict[str, Any]:
        async with self.uow(readonly=True) as uow:
            return {
                c.value: switching_state_dict(
                    switching_state_from(
                        await uow.production.switching_state(manufacturer_id, product_id, c.value)
                    )
                )
                for c in DefectClass
            }

    async def resume(self, manufacturer_id: str, product_id: str, *, actor: str) -> dict[str, Any]:
        """After the supplier's corrective action is accepted: resume discontinued
        inspection on tightened severity (ISO 2859-1 clause 9.4)."""
        async with self.uow() as uow:
            resumed = []
            for c in DefectClass:
                state = switching_state_from(
                    await uow.production.switching_state(manufacturer_id, product_id, c.value)
                )
                if state.discontinued:
                    await uow.production.save_switching_state(
                        manufacturer_id, product_id, c.value, switching_state_dict(state.resume())
                    )
                    resumed.append(c.value)
            if not resumed:
                raise Conflict("inspection is not discontinued for this manufacturer and product")
            uow.record(
                DomainEvent(
                    "qc.inspection_resumed",
                    "manufacturer",
                    manufacturer_id,
                    1,
                    {"product_id": product_id, "defect_classes": resumed, "actor": actor},
                )
            )
            await uow.commit()
        return await self.switching(manufacturer_id, product_id)

    # ------------------------------------------------------------------ dispositions
    async def dispose(
        self, lot_id: str, disposition: str, *, actor: str, note: str
    ) -> dict[str, Any]:
        """Decide what happens to a rejected lot, recorded as stock movements:
        rework (units stay in ``quality_control``; the lot is re-inspected as a
        resubmitted lot), return to the manufacturer (``quality_control → out``) or
        scrap (``quality_control → damaged``)."""
        d = parse_enum(Disposition, disposition, "disposition")
        if not actor.strip() or not note.strip():
            raise InvalidInput("a disposition needs an actor and a reason")
        async with self.uow() as uow:
            lot = await uow.production.lot(lot_id, lock=True)
            if lot is None:
                raise NotFound(f"lot {lot_id} not found")
            if lot["status"] != LotStatus.REJECTED.value:
                raise Conflict("only a rejected lot takes a disposition", status=lot["status"])
            status, movements = disposition_outcome(
                d, lot["sku_id"], int(lot["quantity"]), lot_id, actor=actor, note=note
            )
            if movements:
                await uow.stock.apply(movements)
            await uow.production.set_lot_status(lot, status.value, note[:2000])
            uow.record(
                DomainEvent(
                    "qc.lot_disposed",
                    "lot",
                    lot_id,
                    int(lot["version"]) + 1,
                    {"lot_id": lot_id, "disposition": d.value, "actor": actor, "note": note},
                )
            )
            got = await uow.production.lot(lot_id)
            await uow.commit()
        assert got is not None
        return got

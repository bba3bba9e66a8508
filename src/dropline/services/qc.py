"""Quality control: versioned specs, golden samples, inspections and the stock gate.

- A QC spec is versioned like software: every change is a new version, old versions
  stay readable. A golden sample approved against a version freezes it; runs may only
  reference frozen versions.
- An inspection of a lot computes each defect class's single sampling plan from the lot
  size, the spec's inspection level and the class's AQL, at the severity (normal,
  tightened, reduced) the switching rules put that class in for the manufacturer and
  product (``dropline.domain.aql``). The verdict is per class from Ac/Re.
- The gate: only a signed-off *final* inspection moves stock. Accept → the lot's units
  leave ``quality_control`` (to waiting pre-orders first, then ``available``) as
  ``qc_pass`` movements. Reject → the units stay out of sale until a disposition:
  rework (stay in ``quality_control``, re-inspect), return to manufacturer (leave the
  building) or scrap (to ``damaged``), the last two as ``qc_fail`` movements.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from dropline.domain.aql import (
    DefectClass,
    InspectionLevel,
    Severity,
    SwitchingState,
    normalize_aql,
    sampling_plan,
    verdict,
)
from dropline.domain.errors import (
    Conflict,
    InspectionDiscontinued,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.domain.production import parse_enum
from dropline.domain.stock import Bucket, Movement, Reason
from dropline.services.ports import Clock
from dropline.services.preorder_allocation import PreorderAllocationService
from dropline.store.uow import UnitOfWork, UowFactory

MAX_PHOTO_BYTES = 10 * 1024 * 1024
PHOTO_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


class Stage(StrEnum):
    INCOMING_MATERIAL = "incoming_material"
    IN_PROCESS = "in_process"
    FINAL_RANDOM = "final_random"


class LotStatus(StrEnum):
    QUALITY_CONTROL = "quality_control"  # received, waiting for final inspection
    PASSED = "passed"
    REJECTED = "rejected"  # waiting for a disposition
    REWORK = "rework"  # being reworked; re-inspect (a resubmitted lot)
    RETURNED = "returned"
    SCRAPPED = "scrapped"


class Disposition(StrEnum):
    REWORK = "rework"
    RETURN = "return"
    SCRAP = "scrap"


INSPECTABLE = frozenset({LotStatus.QUALITY_CONTROL, LotStatus.REWORK})


def _dec(value: Any, field: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{field} must be a number", field=field) from None
    if not d.is_finite():
        raise InvalidInput(f"{field} must be a finite number", field=field)
    return d


def _name(item: Mapping[str, Any], field: str) -> str:
    name = str(item.get("name", "")).strip()
    if not name or len(name) > 120:
        raise InvalidInput(f"each {field} needs a name of 1-120 characters", field=field)
    return name


def clean_spec_content(content: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise a spec's content (raises ``InvalidInput``).

    ``measurements``: name, nominal, tolerance (>= 0), unit; ``attribute_checks`` and
    ``packaging_checks``: name, description, optional reference_photo;
    ``aqls``: {critical|major|minor: AQL}; ``inspection_level``: I, II, III, S-1..S-4."""
    allowed = {"measurements", "attribute_checks", "packaging_checks", "aqls", "inspection_level"}
    unknown = set(content) - allowed
    if unknown:
        raise InvalidInput(f"unknown spec fields: {', '.join(sorted(unknown))}")
    measurements = []
    for m in content.get("measurements", []):
        tol = _dec(m.get("tolerance"), "tolerance")
        if tol < 0:
            raise InvalidInput("a tolerance cannot be negative", field="tolerance")
        measurements.append(
            {
                "name": _name(m, "measurement"),
                "nominal": str(_dec(m.get("nominal"), "nominal")),
                "tolerance": str(tol),
                "unit": str(m.get("unit", ""))[:20],
            }
        )
    checks: dict[str, list[dict[str, str]]] = {}
    for key in ("attribute_checks", "packaging_checks"):
        checks[key] = [
            {
                "name": _name(c, key),
                "description": str(c.get("description", ""))[:2000],
                "reference_photo": str(c.get("reference_photo", ""))[:400],
            }
            for c in content.get(key, [])
        ]
    aqls_in = content.get("aqls") or {}
    if not aqls_in:
        raise InvalidInput("a QC spec needs at least one defect class with an AQL", field="aqls")
    aqls = {
        parse_enum(DefectClass, str(k), "defect class").value: normalize_aql(str(v))
        for k, v in aqls_in.items()
    }
    level = parse_enum(InspectionLevel, str(content.get("inspection_level", "II")), "level")
    return {
        "measurements": measurements,
        **checks,
        "aqls": aqls,
        "inspection_level": level.value,
    }


def _state_from(raw: Mapping[str, Any] | None) -> SwitchingState:
    if raw is None:
        return SwitchingState()
    return SwitchingState(
        severity=Severity(raw["severity"]),
        discontinued=bool(raw["discontinued"]),
        normal_history=tuple(bool(x) for x in raw["normal_history"]),
        tightened_accept_run=int(raw["tightened_accept_run"]),
        tightened_rejects=int(raw["tightened_rejects"]),
        switching_score=int(raw["switching_score"]),
    )


def _state_dict(state: SwitchingState) -> dict[str, Any]:
    d = asdict(state)
    d["severity"] = state.severity.value
    d["normal_history"] = list(state.normal_history)
    return d


class QcService:
    def __init__(
        self, uow: UowFactory, clock: Clock, preorders: PreorderAllocationService, data_dir: str
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.preorders = preorders
        self.data_dir = Path(data_dir)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # ------------------------------------------------------------------ specs
    async def create_spec(
        self, product_id: str, name: str, content: Mapping[str, Any], *, actor: str
    ) -> dict[str, Any]:
        """A new spec for a product, at version 1 (not frozen until a golden sample of it
        is approved)."""
        clean = clean_spec_content(content)
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("a spec needs a name of 1-200 characters", field="name")
        spec_id = new_id("qcs")
        async with self.uow() as uow:
            if await uow.catalog.get_product(product_id) is None:
                raise NotFound(f"product {product_id} not found")
            await uow.production.add_spec_version(
                {
                    "spec_id": spec_id,
                    "version": 1,
                    "product_id": product_id,
                    "name": name,
                    "content": clean,
                    "created_by": actor,
                }
            )
            got = await uow.production.spec_version(spec_id, 1)
            await uow.commit()
        assert got is not None
        return got

    async def revise_spec(
        self, spec_id: str, content: Mapping[str, Any], *, actor: str, name: str | None = None
    ) -> dict[str, Any]:
        """A change is a new version (the previous ones stay readable and unchanged)."""
        clean = clean_spec_content(content)
        async with self.uow() as uow:
            versions = await uow.production.spec_versions(spec_id)
            if not versions:
                raise NotFound(f"QC spec {spec_id} not found")
            last = versions[-1]
            version = int(last["version"]) + 1
            await uow.production.add_spec_version(
                {
                    "spec_id": spec_id,
                    "version": version,
                    "product_id": last["product_id"],
                    "name": (name or last["name"]).strip()[:200],
                    "content": clean,
                    "created_by": actor,
                }
            )
            got = await uow.production.spec_version(spec_id, version)
            await uow.commit()
        assert got is not None
        return got

    async def spec_versions(self, spec_id: str) -> list[dict[str, Any]]:
        async with self.uow(readonly=True) as uow:
            versions = await uow.production.spec_versions(spec_id)
        if not versions:
            raise NotFound(f"QC spec {spec_id} not found")
        return versions

    # ------------------------------------------------------------------ golden samples
    async def register_sample(
        self, spec_id: str, version: int, description: str, *, actor: str
    ) -> dict[str, Any]:
        sample_id = new_id("gsm")
        async with self.uow() as uow:
            if await uow.production.spec_version(spec_id, version) is None:
                raise NotFound(f"QC spec {spec_id} version {version} not found")
            await uow.production.add_golden_sample(
                {
                    "id": sample_id,
                    "spec_id": spec_id,
                    "spec_version": version,
                    "description": description.strip()[:2000],
                    "registered_by": actor,
                }
            )
            got = await uow.production.golden_sample(sample_id)
            await uow.commit()
        assert got is not None
        return got

    async def approve_sample(
        self, sample_id: str, *, approver: str, note: str = ""
    ) -> dict[str, Any]:
        """Sign off a golden sample; this freezes its spec version for production use."""
        approver = approver.strip()
        if not approver:
            raise InvalidInput("approval needs the approver's name", field="approver")
        async with self.uow() as uow:
            sample = await uow.production.golden_sample(sample_id)
            if sample is None:
                raise NotFound(f"golden sample {sample_id} not found")
            if not await uow.production.approve_golden_sample(sample_id, approver, note[:2000]):
                raise Conflict("this golden sample is already approved")
            await uow.production.freeze_spec_version(
                sample["spec_id"], int(sample["spec_version"]), approver
            )
            uow.record(
                DomainEvent(
                    "qc.golden_sample_approved",
                    "qc_spec",
                    sample["spec_id"],
                    int(sample["spec_version"]),
                    {
                        "sample_id": sample_id,
                        "spec_id": sample["spec_id"],
                        "version": int(sample["spec_version"]),
                        "approver": approver,
                    },
                )
            )
            got = await uow.production.golden_sample(sample_id)
            await uow.commit()
        assert got is not None
        return got

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
            state = _state_from(
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
        """Record an inspection of a lot: defects found per class, measurements (each
        judged against the spec's nominal ± tolerance), attribute/packaging check
        results. The verdict is computed per class from its plan's Ac/Re. Nothing moves
        until the inspection is signed off (``sign_off``)."""
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
            unknown = set(defects) - set(plans)
            if unknown:
                raise InvalidInput(
                    f"defects reported for classes the spec has no AQL for: "
                    f"{', '.join(sorted(unknown))}",
                    field="defects",
                )
            classes = []
            for cls, p in plans.items():
                found = defects.get(cls, 0)
                if isinstance(found, bool) or not isinstance(found, int) or found < 0:
                    raise InvalidInput("defect counts must be non-negative integers")
                plan = sampling_plan(
                    int(lot["quantity"]),
                    InspectionLevel(spec["content"]["inspection_level"]),
                    p["aql"],
                    Severity(p["severity"]),
                )
                v = verdict(plan, found)
                classes.append(
                    p
                    | {
                        "defects": found,
                        "accepted": v.accepted,
                        "reinstate_normal": v.reinstate_normal,
                        "note": str((defect_notes or {}).get(cls, ""))[:2000],
                    }
                )
            measured = self._measurements(spec["content"]["measurements"], measurements)
            check_results = self._checks(spec["content"], checks)
            accepted = all(c["accepted"] for c in classes)
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

    def _measurements(
        self, spec: Sequence[Mapping[str, Any]], given: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        by_name = {m["name"]: m for m in spec}
        out = []
        for g in given:
            name = str(g.get("name", ""))
            if name not in by_name:
                raise InvalidInput(f"the spec has no measurement {name!r}", field="measurements")
            m = by_name[name]
            value = _dec(g.get("value"), "value")
            ok = abs(value - Decimal(m["nominal"])) <= Decimal(m["tolerance"])
            out.append({"name": name, "value": str(value), "unit": m["unit"], "within": ok})
        return out

    def _checks(
        self, spec: Mapping[str, Any], given: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        names = {c["name"] for c in spec["attribute_checks"]} | {
            c["name"] for c in spec["packaging_checks"]
        }
        out = []
        for g in given:
            name = str(g.get("name", ""))
            if name not in names:
                raise InvalidInput(f"the spec has no check {name!r}", field="checks")
            out.append(
                {
                    "name": name,
                    "passed": bool(g.get("passed")),
                    "note": str(g.get("note", ""))[:500],
                }
            )
        return out

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
            state = _state_from(
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
                manufacturer_id, product_id, cls, _state_dict(nxt)
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
                c.value: _state_dict(
                    _state_from(
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
                state = _state_from(
                    await uow.production.switching_state(manufacturer_id, product_id, c.value)
                )
                if state.discontinued:
                    await uow.production.save_switching_state(
                        manufacturer_id, product_id, c.value, _state_dict(state.resume())
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
            qty, sku = int(lot["quantity"]), lot["sku_id"]
            if d is Disposition.REWORK:
                status = LotStatus.REWORK
            elif d is Disposition.RETURN:
                status = LotStatus.RETURNED
                await uow.stock.apply(
                    [
                        Movement(
                            sku,
                            qty,
                            Bucket.QUALITY_CONTROL,
                            None,
                            Reason.QC_FAIL,
                            lot_id,
                            actor,
                            f"returned to manufacturer: {note}",
                        )
                    ]
                )
            else:
                status = LotStatus.SCRAPPED
                await uow.stock.apply(
                    [
                        Movement(
                            sku,
                            qty,
                            Bucket.QUALITY_CONTROL,
                            Bucket.DAMAGED,
                            Reason.QC_FAIL,
                            lot_id,
                            actor,
                            f"scrapped: {note}",
                        )
                    ]
                )
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

    # ------------------------------------------------------------------ photos
    async def add_photo(
        self,
        inspection_id: str,
        data: bytes,
        content_type: str,
        *,
        filename: str = "",
        defect_class: str | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """Store an inspection photo under ``<data_dir>/inspections/<id>/``."""
        content_type = content_type.split(";")[0].strip().lower()
        if content_type not in PHOTO_TYPES:
            raise InvalidInput(f"photos must be one of {', '.join(PHOTO_TYPES)}")
        if not data or len(data) > MAX_PHOTO_BYTES:
            raise InvalidInput("a photo must be between 1 byte and 10 MiB")
        if defect_class is not None:
            defect_class = parse_enum(DefectClass, defect_class, "defect_class").value
        photo_id = new_id("pho")
        ext = PHOTO_TYPES[content_type] or mimetypes.guess_extension(content_type) or ""
        async with self.uow() as uow:
            if await uow.production.inspection(inspection_id) is None:
                raise NotFound(f"inspection {inspection_id} not found")
            rel = Path("inspections") / inspection_id / f"{photo_id}{ext}"
            path = self.data_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            await uow.production.add_photo(
                {
                    "id": photo_id,
                    "inspection_id": inspection_id,
                    "defect_class": defect_class,
                    "filename": Path(filename).name[:200] or path.name,
                    "path": str(rel),
                    "content_type": content_type,
                    "size": len(data),
                    "note": note[:2000],
                }
            )
            await uow.commit()
        return {"id": photo_id, "path": str(rel), "size": len(data), "content_type": content_type}

    def photo_path(self, rel: str) -> Path:
        return self.data_dir / rel

    # ------------------------------------------------------------------ traceability
    async def trace_lot(self, lot_id: str) -> dict[str, Any]:
        """Lot → run → manufacturer, its inspections, and every order that received
        its units."""
        async with self.uow(readonly=True) as uow:
            lot = await uow.production.lot(lot_id)
            if lot is None:
                raise NotFound(f"lot {lot_id} not found")
            run = await uow.production.run(lot["run_id"])
            assert run is not None
            mfr = await uow.production.manufacturer(run["manufacturer_id"])
            inspections = await uow.production.inspections(lot_id)
            photos = {i["id"]: await uow.production.photos(i["id"]) for i in inspections}
            allocations = await uow.production.allocations(lot_id=lot_id)
        return {
            "lot": lot,
            "run": {k: run[k] for k in ("id", "name", "qc_spec_id", "qc_spec_version")},
            "manufacturer": mfr,
            "inspections": [i | {"photos": photos[i["id"]]} for i in inspections],
            "orders": allocations,
        }

    async def trace_order(self, order_id: str) -> dict[str, Any]:
        """Order line → lot → inspections → run → manufacturer."""
        async with self.uow(readonly=True) as uow:
            order = await uow.orders.get_order(order_id)
            if order is None:
                raise NotFound(f"order {order_id} not found")
            allocations = await uow.production.allocations(order_id=order_id)
        lots = []
        for a in allocations:
            t = await self.trace_lot(a["lot_id"])
            lots.append(
                {
                    "sku_id": a["sku_id"],
                    "quantity": a["quantity"],
                    "lot": t["lot"],
                    "inspections": t["inspections"],
                    "run": t["run"],
                    "manufacturer": t["manufacturer"],
                }
            )
        return {
            "order_id": order_id,
            "lines": [
                {"sku_id": ln.ref_id, "quantity": ln.quantity, "kind": ln.kind}
                for ln in order.lines
            ],
            "lots": lots,
        }

    async def lots(self, run_id: str | None = None) -> list[dict[str, Any]]:
        async with self.uow(readonly=True) as uow:
            return await uow.production.lots(run_id)

    async def inspection(self, inspection_id: str) -> dict[str, Any]:
        async with self.uow(readonly=True) as uow:
            got = await uow.production.inspection(inspection_id)
            if got is None:
                raise NotFound(f"inspection {inspection_id} not found")
            return got | {"photos": await uow.production.photos(inspection_id)}

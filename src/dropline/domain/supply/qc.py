"""Quality control rules: inspection stages, lot statuses, dispositions, what a spec's
content may hold, and how an inspection's measurements and checks are judged against it.

Pure domain: standard library only, no I/O. ``services.qc_specs`` validates spec content
here before storing a version; ``services.qc`` judges inspections and keeps each
manufacturer's switching state (``dropline.domain.supply.aql``) stored as the dicts made here.

A lot is received into ``quality_control`` and may be inspected there, or after rework
(a resubmitted lot). A signed-off final inspection passes or rejects it; a rejected lot
waits for a disposition: rework, return to the manufacturer or scrap, each with the
stock movements it makes (``disposition_outcome``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from dropline.domain.errors import InvalidInput
from dropline.domain.stock.buckets import Bucket, Movement, Reason
from dropline.domain.supply.aql import (
    DefectClass,
    InspectionLevel,
    Severity,
    SwitchingState,
    normalize_aql,
)
from dropline.domain.supply.production import parse_enum


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


def switching_state_from(raw: Mapping[str, Any] | None) -> SwitchingState:
    """The switching state stored for a manufacturer, product and class (``None``: none
    stored yet, so the first lot starts on normal inspection)."""
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


def switching_state_dict(state: SwitchingState) -> dict[str, Any]:
    """A switching state as a JSON-ready dict, the inverse of ``switching_state_from``."""
    d = asdict(state)
    d["severity"] = state.severity.value
    d["normal_history"] = list(state.normal_history)
    return d


def judge_measurements(
    spec: Sequence[Mapping[str, Any]], given: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each given measurement judged against the spec's nominal ± tolerance
    (``within``); a name the spec does not list raises ``InvalidInput``."""
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


def judge_checks(
    spec: Mapping[str, Any], given: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The given attribute/packaging check results, each naming a check of the spec
    content (``InvalidInput`` otherwise)."""
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


def disposition_outcome(
    disposition: Disposition, sku_id: str, quantity: int, lot_id: str, *, actor: str, note: str
) -> tuple[LotStatus, list[Movement]]:
    """The status a rejected lot takes on a disposition, and the stock movements that
    take its units there: rework keeps them in ``quality_control`` (no movement; the lot
    is re-inspected as a resubmitted lot), return to the manufacturer takes them out of
    the building (``quality_control → out``) and scrap moves them to ``damaged``, both as
    ``qc_fail`` movements."""
    if disposition is Disposition.REWORK:
        return LotStatus.REWORK, []
    if disposition is Disposition.RETURN:
        return LotStatus.RETURNED, [
            Movement(
                sku_id,
                quantity,
                Bucket.QUALITY_CONTROL,
                None,
                Reason.QC_FAIL,
                lot_id,
                actor,
                f"returned to manufacturer: {note}",
            )
        ]
    return LotStatus.SCRAPPED, [
        Movement(
            sku_id,
            quantity,
            Bucket.QUALITY_CONTROL,
            Bucket.DAMAGED,
            Reason.QC_FAIL,
            lot_id,
            actor,
            f"scrapped: {note}",
        )
    ]

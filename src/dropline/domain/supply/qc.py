"""Quality control rules: inspection stages, lot statuses, dispositions, what a spec's
content may hold, and how an inspection's measurements and checks are judged against it.

Pure domain: standard library only, no I/O. ``services.qc_specs`` validates spec content
here before storing a version; ``services.qc`` judges inspections and keeps each
manufacturer's switching state (``dropline.domain.supply.aql``) stored as the dicts made here.

Every measurement and check of a spec belongs to a defect class (``defect_class``,
``major`` unless the spec says otherwise). An inspection's verdict counts, per class,
the nonconformities the inspector reported *plus* one for each reading out of
tolerance and one for each failed check of that class, against the class's own Ac/Re
(``judge_inspection``): ISO 2859-1 classifies every nonconformity by seriousness and
judges each class against its AQL, whatever characteristic it was found on.

A lot is received into ``quality_control`` and may be inspected there, or after rework
(a resubmitted lot). A signed-off final inspection passes or rejects it; a rejected lot
waits for a disposition: rework, return to the manufacturer or scrap, each with the
stock movements it makes (``disposition_outcome``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from dropline.domain.errors import InvalidInput
from dropline.domain.stock.buckets import Bucket, Movement, Reason
from dropline.domain.supply.aql import (
    DefectClass,
    InspectionLevel,
    SamplingPlan,
    Severity,
    SwitchingState,
    Verdict,
    normalize_aql,
    verdict,
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

#: The class of a spec's measurement or check that names none (and of those stored
#: before specs named one): out of tolerance or failed, a unit fails a specified
#: requirement, which is what ISO 2859-1 practice calls a major nonconformity.
DEFAULT_DEFECT_CLASS = DefectClass.MAJOR.value


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


def _item_class(item: Mapping[str, Any], name: str, field: str, aqls: Mapping[str, str]) -> str:
    """The defect class a spec item's nonconformities count in: one the spec has an AQL
    for, or nothing could ever accept or reject them."""
    cls = parse_enum(
        DefectClass, str(item.get("defect_class") or DEFAULT_DEFECT_CLASS), "defect class"
    ).value
    if cls not in aqls:
        raise InvalidInput(
            f"{field} {name!r} counts as a {cls} nonconformity, but the spec sets "
            f"no AQL for {cls}; add one or give it another defect_class",
            field=field,
        )
    return cls


def clean_spec_content(content: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise a spec's content (raises ``InvalidInput``).

    ``measurements``: name, nominal, tolerance (>= 0), unit; ``attribute_checks`` and
    ``packaging_checks``: name, description, optional reference_photo; each of those
    with an optional ``defect_class`` (default ``major``) that must have an AQL;
    ``aqls``: {critical|major|minor: AQL}; ``inspection_level``: I, II, III, S-1..S-4."""
    allowed = {"measurements", "attribute_checks", "packaging_checks", "aqls", "inspection_level"}
    unknown = set(content) - allowed
    if unknown:
        raise InvalidInput(f"unknown spec fields: {', '.join(sorted(unknown))}")
    aqls_in = content.get("aqls") or {}
    if not aqls_in:
        raise InvalidInput("a QC spec needs at least one defect class with an AQL", field="aqls")
    aqls = {
        parse_enum(DefectClass, str(k), "defect class").value: normalize_aql(str(v))
        for k, v in aqls_in.items()
    }
    measurements = []
    for m in content.get("measurements", []):
        tol = _dec(m.get("tolerance"), "tolerance")
        if tol < 0:
            raise InvalidInput("a tolerance cannot be negative", field="tolerance")
        name = _name(m, "measurement")
        measurements.append(
            {
                "name": name,
                "nominal": str(_dec(m.get("nominal"), "nominal")),
                "tolerance": str(tol),
                "unit": str(m.get("unit", ""))[:20],
                "defect_class": _item_class(m, name, "measurements", aqls),
            }
        )
    checks: dict[str, list[dict[str, str]]] = {}
    for key in ("attribute_checks", "packaging_checks"):
        checks[key] = []
        for c in content.get(key, []):
            name = _name(c, key)
            checks[key].append(
                {
                    "name": name,
                    "description": str(c.get("description", ""))[:2000],
                    "reference_photo": str(c.get("reference_photo", ""))[:400],
                    "defect_class": _item_class(c, name, key, aqls),
                }
            )
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
    """Each given measurement (one reading on one sample unit) judged against the spec's
    nominal ± tolerance (``within``), with the defect class a reading out of tolerance
    counts in; a name the spec does not list raises ``InvalidInput``."""
    by_name = {m["name"]: m for m in spec}
    out = []
    for g in given:
        name = str(g.get("name", ""))
        if name not in by_name:
            raise InvalidInput(f"the spec has no measurement {name!r}", field="measurements")
        m = by_name[name]
        value = _dec(g.get("value"), "value")
        ok = abs(value - Decimal(m["nominal"])) <= Decimal(m["tolerance"])
        out.append(
            {
                "name": name,
                "value": str(value),
                "unit": m["unit"],
                "within": ok,
                "defect_class": m.get("defect_class") or DEFAULT_DEFECT_CLASS,
            }
        )
    return out


def judge_checks(
    spec: Mapping[str, Any], given: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The given attribute/packaging check results, each naming a check of the spec
    content (``InvalidInput`` otherwise), with the defect class a failure counts in."""
    classes = {
        c["name"]: c.get("defect_class") or DEFAULT_DEFECT_CLASS
        for key in ("attribute_checks", "packaging_checks")
        for c in spec[key]
    }
    out = []
    for g in given:
        name = str(g.get("name", ""))
        if name not in classes:
            raise InvalidInput(f"the spec has no check {name!r}", field="checks")
        out.append(
            {
                "name": name,
                "passed": bool(g.get("passed")),
                "note": str(g.get("note", ""))[:500],
                "defect_class": classes[name],
            }
        )
    return out


@dataclass(frozen=True)
class ClassJudgement:
    """One defect class of an inspection: where its nonconformities came from, and the
    verdict of its plan on all of them (``found``)."""

    defect_class: str
    reported: int  # counted by the inspector, besides the measurements and checks
    measurements: int  # readings out of tolerance
    checks: int  # failed checks
    verdict: Verdict

    @property
    def found(self) -> int:
        return self.reported + self.measurements + self.checks


@dataclass(frozen=True)
class InspectionJudgement:
    """An inspection judged: ``accepted`` only if every class's plan accepts its count
    and no nonconformity fell in a class without an AQL (``unplanned``: possible only
    for a spec stored before its items named a class)."""

    accepted: bool
    classes: tuple[ClassJudgement, ...]
    unplanned: Mapping[str, int]


def _check_counts(reported: Mapping[str, int], plans: Mapping[str, SamplingPlan]) -> None:
    unknown = set(reported) - set(plans)
    if unknown:
        raise InvalidInput(
            f"defects reported for classes the spec has no AQL for: {', '.join(sorted(unknown))}",
            field="defects",
        )
    for found in reported.values():
        if isinstance(found, bool) or not isinstance(found, int) or found < 0:
            raise InvalidInput("defect counts must be non-negative integers", field="defects")


def judge_inspection(
    plans: Mapping[str, SamplingPlan],
    reported: Mapping[str, int],
    measured: Sequence[Mapping[str, Any]],
    checks: Sequence[Mapping[str, Any]],
) -> InspectionJudgement:
    """The verdict of one inspection of a lot, per defect class and overall.

    ``plans``: each class's plan (its AQL, at the severity switching put it in);
    ``reported``: nonconformities the inspector counted per class, *not* including the
    ones recorded as ``measured`` (``judge_measurements``) and ``checks``
    (``judge_checks``); each reading out of tolerance and each failed check adds one
    nonconformity to its class, so a lot out of tolerance is rejected as soon as a
    class reaches its Re. Counting nonconformities rather than nonconforming units is
    conservative: a unit with two faults counts twice, never less than once.
    Raises ``InvalidInput`` for a count of a class without a plan or a count that is
    not a non-negative integer."""
    _check_counts(reported, plans)
    from_measurements: dict[str, int] = {}
    for m in measured:
        if not m["within"]:
            cls = m["defect_class"]
            from_measurements[cls] = from_measurements.get(cls, 0) + 1
    from_checks: dict[str, int] = {}
    for c in checks:
        if not c["passed"]:
            cls = c["defect_class"]
            from_checks[cls] = from_checks.get(cls, 0) + 1
    classes = []
    for cls, plan in plans.items():
        mine = reported.get(cls, 0), from_measurements.get(cls, 0), from_checks.get(cls, 0)
        classes.append(ClassJudgement(cls, *mine, verdict=verdict(plan, sum(mine))))
    unplanned = {
        cls: from_measurements.get(cls, 0) + from_checks.get(cls, 0)
        for cls in sorted((set(from_measurements) | set(from_checks)) - set(plans))
    }
    return InspectionJudgement(
        accepted=all(j.verdict.accepted for j in classes) and not unplanned,
        classes=tuple(classes),
        unplanned=unplanned,
    )


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

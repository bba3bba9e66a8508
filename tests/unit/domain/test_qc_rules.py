"""QC rules without a database: spec content, judging an inspection, dispositions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dropline.domain.errors import InvalidInput
from dropline.domain.stock.buckets import Bucket, Reason
from dropline.domain.supply.aql import InspectionLevel, SamplingPlan, Severity, SwitchingState
from dropline.domain.supply.aql import sampling_plan as iso_plan
from dropline.domain.supply.qc import (
    Disposition,
    LotStatus,
    clean_spec_content,
    disposition_outcome,
    judge_checks,
    judge_inspection,
    judge_measurements,
    switching_state_dict,
    switching_state_from,
)

SPEC = {
    "measurements": [{"name": "chest", "nominal": "52", "tolerance": "1.5", "unit": "cm"}],
    "attribute_checks": [{"name": "print", "description": "no cracks"}],
    "packaging_checks": [{"name": "bag"}],
    "aqls": {"critical": "0.65", "major": "2.5"},
}


def test_spec_content_is_normalised_with_level_ii_by_default() -> None:
    clean = clean_spec_content(SPEC)
    assert clean["inspection_level"] == "II"
    assert set(clean["aqls"]) == {"critical", "major"}
    assert clean["measurements"][0] == {
        "name": "chest",
        "nominal": "52",
        "tolerance": "1.5",
        "unit": "cm",
        "defect_class": "major",
    }
    assert clean["packaging_checks"][0]["reference_photo"] == ""
    assert clean["packaging_checks"][0]["defect_class"] == "major"


@pytest.mark.parametrize(
    "content",
    [
        {"aqls": {}},
        {"aqls": {"major": "2.5"}, "colour": "red"},
        {"aqls": {"cosmetic": "2.5"}},
        {
            "aqls": {"major": "2.5"},
            "measurements": [{"name": "x", "nominal": "1", "tolerance": "-1"}],
        },
        {
            "aqls": {"major": "2.5"},
            "measurements": [{"name": "x", "nominal": "nan?", "tolerance": "1"}],
        },
        {"aqls": {"major": "2.5"}, "attribute_checks": [{"name": " "}]},
        # a class the spec has no AQL for could never accept or reject the lot
        {"aqls": {"major": "2.5"}, "packaging_checks": [{"name": "bag", "defect_class": "minor"}]},
        {"aqls": {"minor": "4.0"}, "attribute_checks": [{"name": "print"}]},
        {"aqls": {"major": "2.5"}, "attribute_checks": [{"name": "p", "defect_class": "fatal"}]},
    ],
)
def test_bad_spec_content_is_refused(content: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        clean_spec_content(content)


def test_measurements_are_judged_against_nominal_and_tolerance() -> None:
    spec = clean_spec_content(SPEC)
    judged = judge_measurements(
        spec["measurements"], [{"name": "chest", "value": "53.5"}, {"name": "chest", "value": 54}]
    )
    assert [(m["within"], m["defect_class"]) for m in judged] == [(True, "major"), (False, "major")]
    with pytest.raises(InvalidInput):
        judge_measurements(spec["measurements"], [{"name": "sleeve", "value": "1"}])


def test_checks_must_name_a_check_of_the_spec() -> None:
    spec = clean_spec_content(SPEC)
    got = judge_checks(spec, [{"name": "bag", "passed": True}, {"name": "print", "passed": 0}])
    assert [(c["name"], c["passed"]) for c in got] == [("bag", True), ("print", False)]
    assert {c["defect_class"] for c in got} == {"major"}
    with pytest.raises(InvalidInput):
        judge_checks(spec, [{"name": "hangtag", "passed": True}])


def test_switching_state_round_trips_and_starts_normal() -> None:
    assert switching_state_from(None) == SwitchingState()
    state = SwitchingState(
        severity=Severity.TIGHTENED, normal_history=(True, False), tightened_rejects=2
    )
    assert switching_state_from(switching_state_dict(state)) == state


def test_dispositions_move_units_out_of_quality_control() -> None:
    status, moves = disposition_outcome(
        Disposition.REWORK, "sku_1", 40, "lot_1", actor="lee", note="x"
    )
    assert (status, moves) == (LotStatus.REWORK, [])
    status, moves = disposition_outcome(
        Disposition.RETURN, "sku_1", 40, "lot_1", actor="lee", note="x"
    )
    assert status is LotStatus.RETURNED
    assert [(m.from_bucket, m.to_bucket, m.reason, m.quantity) for m in moves] == [
        (Bucket.QUALITY_CONTROL, None, Reason.QC_FAIL, 40)
    ]
    status, moves = disposition_outcome(
        Disposition.SCRAP, "sku_1", 40, "lot_1", actor="lee", note="x"
    )
    assert status is LotStatus.SCRAPPED
    assert [(m.from_bucket, m.to_bucket, m.note) for m in moves] == [
        (Bucket.QUALITY_CONTROL, Bucket.DAMAGED, "scrapped: x")
    ]


# ------------------------------------------------------------------ the verdict

#: Measurements, attribute and packaging checks each in a class of their own choosing.
CLASSED = {
    "measurements": [{"name": "chest", "nominal": "52", "tolerance": "1.0", "unit": "cm"}],
    "attribute_checks": [
        {"name": "print", "description": "no cracks"},
        {"name": "zip", "description": "no sharp edge", "defect_class": "critical"},
    ],
    "packaging_checks": [{"name": "bag", "defect_class": "minor"}],
    "aqls": {"critical": "0.065", "major": "2.5", "minor": "4.0"},
}


def plans_for(lot: int, aqls: dict[str, str]) -> dict[str, SamplingPlan]:
    return {c: iso_plan(lot, InspectionLevel.II, a, Severity.NORMAL) for c, a in aqls.items()}


def judge(
    reported: dict[str, int],
    readings: Sequence[str] = (),
    checks: dict[str, bool] | None = None,
    *,
    lot: int = 500,
    content: dict[str, Any] | None = None,
) -> Any:
    spec = content or clean_spec_content(CLASSED)
    measured = judge_measurements(
        spec["measurements"], [{"name": "chest", "value": v} for v in readings]
    )
    results = judge_checks(spec, [{"name": n, "passed": ok} for n, ok in (checks or {}).items()])
    return judge_inspection(plans_for(lot, spec["aqls"]), reported, measured, results)


def test_a_lot_out_of_tolerance_is_rejected_with_no_defect_reported() -> None:
    # 500 units, level II: major n=50, Ac 3, Re 4. Four readings out of 52 ± 1.0.
    out = judge({}, ["53.5", "50.9", "54", "49"])
    major = next(j for j in out.classes if j.defect_class == "major")
    assert (major.reported, major.measurements, major.checks, major.found) == (0, 4, 0, 4)
    assert major.verdict.accepted is False and out.accepted is False
    # Readings within tolerance count nothing: the same lot measured in spec passes.
    assert judge({}, ["53", "51", "52.4", "52"]).accepted is True


def test_reported_defects_readings_and_failed_checks_add_up_per_class() -> None:
    # 1 reported + 2 readings out + 1 failed print check = 4 majors: Re reached.
    out = judge({"major": 1}, ["53.5", "50", "52"], {"print": False, "bag": True})
    assert out.accepted is False
    assert [(j.defect_class, j.found) for j in out.classes] == [
        ("critical", 0),
        ("major", 4),
        ("minor", 0),
    ]
    # One fewer of any source is within Ac 3: counted as nonconformities, not an
    # outright reject of the lot.
    assert judge({}, ["53.5", "50", "52"], {"print": False}).accepted is True
    assert judge({"major": 1}, ["53.5", "52"], {"print": False}).accepted is True
    assert judge({"major": 1}, ["53.5", "50"], {"print": True}).accepted is True


def test_a_failed_check_counts_in_its_own_class() -> None:
    # A sharp zip is critical (Ac 0): one failure rejects whatever the other classes say.
    out = judge({}, [], {"zip": False})
    assert out.accepted is False
    assert [j.verdict.accepted for j in out.classes] == [False, True, True]
    # A torn bag is minor (n=50, Ac 5): five pass, six reject, the major class untouched.
    assert judge({"minor": 4}, [], {"bag": False}).accepted is True
    out = judge({"minor": 5}, [], {"bag": False})
    assert out.accepted is False
    assert [(j.defect_class, j.found) for j in out.classes if not j.verdict.accepted] == [
        ("minor", 6)
    ]


def test_a_spec_stored_before_items_had_classes_counts_them_as_major() -> None:
    legacy = {
        "measurements": [{"name": "chest", "nominal": "52", "tolerance": "1.0", "unit": "cm"}],
        "attribute_checks": [{"name": "print", "description": "", "reference_photo": ""}],
        "packaging_checks": [],
        "aqls": {"major": "2.5"},
        "inspection_level": "II",
    }
    out = judge({"major": 2}, ["55"], {"print": False}, content=legacy)
    assert [(j.defect_class, j.found) for j in out.classes] == [("major", 4)]
    assert out.accepted is False
    # Without a major AQL nothing can accept such a nonconformity: the lot is rejected.
    no_major = legacy | {"aqls": {"minor": "4.0"}}
    out = judge({}, ["55"], content=no_major)
    assert out.unplanned == {"major": 1} and out.accepted is False
    assert judge({}, ["52"], content=no_major).accepted is True


@pytest.mark.parametrize("reported", [{"cosmetic": 1}, {"major": -1}, {"major": True}])
def test_bad_defect_counts_are_refused(reported: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        judge(reported)


@settings(max_examples=60, deadline=None)
@given(
    reported=st.fixed_dictionaries({c: st.integers(0, 8) for c in ("critical", "major", "minor")}),
    readings=st.lists(st.sampled_from(["50", "51", "52", "53", "54"]), max_size=8),
    checks=st.fixed_dictionaries({n: st.booleans() for n in ("print", "zip", "bag")}),
    lot=st.integers(2, 5000),
)
def test_the_lot_is_accepted_iff_every_class_total_is_within_ac(
    reported: dict[str, int], readings: list[str], checks: dict[str, bool], lot: int
) -> None:
    out = judge(reported, readings, checks, lot=lot)
    plans = plans_for(lot, CLASSED["aqls"])
    outside = sum(abs(int(v) - 52) > 1 for v in readings)
    totals = {
        "critical": reported["critical"] + (not checks["zip"]),
        "major": reported["major"] + outside + (not checks["print"]),
        "minor": reported["minor"] + (not checks["bag"]),
    }
    assert {j.defect_class: j.found for j in out.classes} == totals
    assert out.accepted == all(totals[c] <= p.accept for c, p in plans.items())

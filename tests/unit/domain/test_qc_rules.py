"""QC rules without a database: spec content, judging an inspection, dispositions."""

from __future__ import annotations

import pytest

from dropline.domain.errors import InvalidInput
from dropline.domain.stock.buckets import Bucket, Reason
from dropline.domain.supply.aql import Severity, SwitchingState
from dropline.domain.supply.qc import (
    Disposition,
    LotStatus,
    clean_spec_content,
    disposition_outcome,
    judge_checks,
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
    }
    assert clean["packaging_checks"][0]["reference_photo"] == ""


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
    assert [m["within"] for m in judged] == [True, False]
    with pytest.raises(InvalidInput):
        judge_measurements(spec["measurements"], [{"name": "sleeve", "value": "1"}])


def test_checks_must_name_a_check_of_the_spec() -> None:
    spec = clean_spec_content(SPEC)
    got = judge_checks(spec, [{"name": "bag", "passed": True}, {"name": "print", "passed": 0}])
    assert [(c["name"], c["passed"]) for c in got] == [("bag", True), ("print", False)]
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

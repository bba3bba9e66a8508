"""The readiness checklist's rules without a database: each item's pass, warn and block,
the verdict, key modes, and the rehearsal's verdict and drops it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dropline.domain.errors import Conflict
from dropline.domain.live.drops import Drop, DropStatus
from dropline.domain.readiness import checklist as cl
from dropline.domain.readiness import rehearsal as rh

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
H = timedelta(hours=1)


def test_verdict_is_the_worst_item() -> None:
    ok = cl.Item("a", "A", cl.Status.PASS, "")
    warn = cl.Item("b", "B", cl.Status.WARN, "")
    block = cl.Item("c", "C", cl.Status.BLOCK, "")
    assert cl.verdict([]) is cl.Status.PASS
    assert cl.verdict([ok, warn]) is cl.Status.WARN
    assert cl.verdict([warn, block, ok]) is cl.Status.BLOCK
    assert cl.blocking([ok, block]) == [block]


def test_counts_within_48_hours_and_no_open_variance() -> None:
    fresh = cl.CountEvidence("TEE-S", NOW - 47 * H)
    stale = cl.CountEvidence("TEE-M", NOW - 49 * H)
    never = cl.CountEvidence("TEE-L", None, open_variances=2)
    recent, variance = cl.counted([fresh], NOW)
    assert (recent.status, variance.status) == (cl.Status.PASS, cl.Status.PASS)
    recent, variance = cl.counted([fresh, stale, never], NOW)
    assert recent.status is cl.Status.BLOCK and "TEE-M, TEE-L" in recent.evidence
    assert variance.status is cl.Status.BLOCK and "TEE-L (2)" in variance.evidence


def test_stock_items() -> None:
    assert cl.priced({"A": 100}).status is cl.Status.PASS
    assert cl.priced({"A": 0}).status is cl.Status.BLOCK
    assert cl.priced({}).status is cl.Status.BLOCK
    assert cl.offers_within_stock([cl.OfferStock("A", 5, 8, 8)]).status is cl.Status.PASS
    over = cl.offers_within_stock([cl.OfferStock("A", 5, 9, 8)])
    assert over.status is cl.Status.BLOCK and "offered 9, reserved 8" in over.evidence
    assert cl.staged([cl.Staging("A", "B-1", 5, 5)]).status is cl.Status.PASS
    assert cl.staged([cl.Staging("A", "B-1", 4, 5)]).status is cl.Status.WARN
    assert cl.staged([cl.Staging("A", None, 0, 5)]).status is cl.Status.BLOCK
    assert cl.qc_passed([]).status is cl.Status.PASS
    assert cl.qc_passed([cl.LotState("A", "L1", "passed")]).status is cl.Status.PASS
    assert cl.qc_passed([cl.LotState("A", "L1", "rework")]).status is cl.Status.WARN
    assert cl.qc_passed([cl.LotState("A", "L1", "rejected")]).status is cl.Status.BLOCK
    assert cl.buffer_set({"A": (0, 3)}).status is cl.Status.PASS
    assert cl.buffer_set({"A": (0, 0)}).status is cl.Status.WARN


def test_real_parts() -> None:
    ep = cl.EndpointEvidence("whe_1", "https://wms", NOW - 23 * H, 204)
    assert cl.warehouse_endpoints([ep], NOW).status is cl.Status.PASS
    assert cl.warehouse_endpoints([], NOW).status is cl.Status.WARN
    late = cl.EndpointEvidence("whe_1", "https://wms", NOW - 25 * H, 200)
    assert cl.warehouse_endpoints([late], NOW).status is cl.Status.BLOCK
    bad = cl.EndpointEvidence("whe_1", "https://wms", NOW, 500)
    assert "answered 500" in cl.warehouse_endpoints([bad], NOW).evidence
    assert cl.key_mode("sandbox", "") == "test"
    assert cl.key_mode("stripe", "sk_live_x") == "live"
    assert cl.key_mode("stripe", "rk_test_x") == "test"
    assert cl.key_mode("stripe", "nope") == "unknown"
    assert cl.payments("stripe", "live", "live", "").status is cl.Status.PASS
    assert cl.payments("stripe", "test", "live", "").status is cl.Status.BLOCK
    assert cl.payments("stripe", "live", "live", "timeout").status is cl.Status.BLOCK
    assert cl.returns_policy(" ").status is cl.Status.BLOCK
    assert cl.templates({"shipped": "boom"}).status is cl.Status.BLOCK
    assert cl.secrets([], []).status is cl.Status.PASS
    assert cl.secrets(["DROPLINE_BUYER_TOKEN_SECRET"], []).status is cl.Status.WARN
    assert cl.secrets(["DROPLINE_BUYER_TOKEN_SECRET"], ["deployed"]).status is cl.Status.BLOCK


def test_rehearsal_and_launch_items() -> None:
    passed = cl.RehearsalEvidence("reh_1", "passed", NOW - 2 * H)
    assert cl.rehearsed(passed, NOW).status is cl.Status.PASS
    assert cl.rehearsed(passed, NOW + 23 * H).status is cl.Status.BLOCK
    failed = cl.RehearsalEvidence("reh_2", "failed", NOW, "hand_off")
    assert "failed at hand_off" in cl.rehearsed(failed, NOW).evidence
    assert cl.rehearsed(None, NOW).status is cl.Status.BLOCK
    assert cl.launch_timeline([]).status is cl.Status.PASS
    on_time = cl.LaunchEvidence("Spring")
    late = cl.LaunchEvidence("Spring", (("Samples", "ann", "2026-02-27"),))
    assert cl.launch_timeline([on_time]).status is cl.Status.PASS
    assert "Samples (ann, due 2026-02-27)" in cl.launch_timeline([late]).evidence


def test_rehearsal_verdict_and_what_may_be_rehearsed() -> None:
    ok = rh.StageResult(rh.Stage.SETUP, rh.Outcome.PASS, "", 0.1)
    skip = rh.StageResult(rh.Stage.HAND_OFF, rh.Outcome.SKIP, "", 0.0)
    bad = rh.StageResult(rh.Stage.HAND_OFF, rh.Outcome.FAIL, "", 0.0)
    assert rh.verdict([ok, skip]) == "passed"
    assert rh.verdict([ok, bad]) == "failed" and rh.first_failure([ok, bad]) == "hand_off"
    assert rh.verdict([]) == "failed"
    for status in (DropStatus.DRAFT, DropStatus.SCHEDULED):
        rh.check_rehearsable(Drop("d", "n", "USD", status))
    for status in (DropStatus.LIVE, DropStatus.PAUSED, DropStatus.ENDED):
        with pytest.raises(Conflict):
            rh.check_rehearsable(Drop("d", "n", "USD", status))
    with pytest.raises(Conflict):
        rh.check_rehearsable(Drop("d", "n", "USD", DropStatus.DRAFT, rehearsal_of="real"))

"""Return rules: who may return what, the refund's arithmetic, where units go."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from dropline.domain.aftersales.returns import (
    DEFAULT_DISPOSITION,
    DEFECT_REASONS,
    Disposition,
    OrderedLine,
    PlannedLine,
    ReturnLineRequest,
    ReturnReason,
    ReturnStatus,
    check_return_transition,
    parse_disposition,
    parse_reason,
    plan_return,
    receipt_buckets,
    refund_for,
    return_deadline,
)
from dropline.domain.errors import InvalidInput, InvalidTransition, ReturnNotAllowed
from dropline.domain.live.orders import OrderStatus

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
LINES = [
    OrderedLine(1, 3, 1000, {"sku_a": 1}),  # 3 units at 333.33: rounding matters
    OrderedLine(2, 2, 8000, {"sku_a": 1, "sku_b": 2}),  # a bundle of 1 a + 2 b
]


def plan(
    *asked: ReturnLineRequest,
    status: OrderStatus = OrderStatus.DELIVERED,
    already_returned: Mapping[int, int] | None = None,
    deadline: datetime | None = NOW + timedelta(days=1),
    refundable_left: int = 17_000,
) -> list[PlannedLine]:
    return plan_return(
        status,
        LINES,
        already_returned or {},
        asked,
        now=NOW,
        deadline=deadline,
        refundable_left=refundable_left,
    )


def req(line: int, qty: int, reason: ReturnReason = ReturnReason.DEFECTIVE) -> ReturnLineRequest:
    return ReturnLineRequest(line, qty, reason)


def test_refunds_of_every_split_of_a_line_add_up_to_the_line_exactly() -> None:
    for amount, n in [(1000, 3), (999, 7), (1, 4), (2500, 1), (10_001, 6)]:
        for k in range(1, n + 1):
            for cuts in itertools.combinations(range(1, n), k - 1):
                parts = [b - a for a, b in zip((0, *cuts), (*cuts, n), strict=True)]
                done, total = 0, 0
                for q in parts:
                    total += refund_for(amount, n, done, q)
                    done += q
                assert total == amount, (amount, n, parts)


def test_a_plan_prices_each_line_and_expands_bundles_into_units() -> None:
    p = plan(req(2, 2), req(1, 1))
    assert [x.line_no for x in p] == [1, 2]  # sorted by line
    assert p[0].amount == 333 and p[0].units == {"sku_a": 1}
    assert p[1].amount == 8000 and p[1].units == {"sku_a": 2, "sku_b": 4}


def test_earlier_returns_count_against_a_line_and_get_the_remainder_cents() -> None:
    p = plan(req(1, 1), already_returned={1: 2})
    assert p[0].amount == 1000 - 666
    with pytest.raises(InvalidInput, match="between 1 and 1"):
        plan(req(1, 2), already_returned={1: 2})


@pytest.mark.parametrize(
    "status",
    [OrderStatus.PAID, OrderStatus.HANDED_OFF, OrderStatus.REFUNDED, OrderStatus.CANCELLED],
)
def test_only_orders_that_left_the_warehouse_can_be_returned(status: OrderStatus) -> None:
    with pytest.raises(ReturnNotAllowed) as err:
        plan(req(1, 1), status=status)
    assert err.value.code == "return_not_allowed"


def test_the_window_runs_from_delivery_else_shipping() -> None:
    shipped, delivered = NOW - timedelta(days=10), NOW - timedelta(days=3)
    assert return_deadline(shipped, delivered, 30) == delivered + timedelta(days=30)
    assert return_deadline(shipped, None, 30) == shipped + timedelta(days=30)
    assert return_deadline(None, None, 30) is None
    with pytest.raises(ReturnNotAllowed, match="window closed"):
        plan(req(1, 1), deadline=NOW - timedelta(seconds=1))
    assert plan(req(1, 1), deadline=NOW)  # the last instant still counts


@pytest.mark.parametrize(
    ("asked", "match"),
    [
        ((), "at least one line"),
        ((req(9, 1),), "no line 9"),
        ((req(1, 1), req(1, 1)), "named twice"),
        ((req(1, 0),), "between 1 and 3"),
        ((req(1, 4),), "between 1 and 3"),
    ],
)
def test_bad_requests_are_refused(asked: tuple[ReturnLineRequest, ...], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        plan(*asked)


def test_a_refund_never_exceeds_what_the_order_has_left() -> None:
    with pytest.raises(ReturnNotAllowed, match="left to refund"):
        plan(req(2, 1), refundable_left=3999)
    assert plan(req(2, 1), refundable_left=4000)[0].amount == 4000


def test_defects_are_never_restocked_unseen() -> None:
    for reason in DEFECT_REASONS:
        assert DEFAULT_DISPOSITION[reason] is not Disposition.RESTOCK
    chosen = receipt_buckets(
        {1: ReturnReason.DEFECTIVE, 2: ReturnReason.CHANGED_MIND}, {2: Disposition.SCRAP}
    )
    assert chosen == {1: Disposition.INSPECT, 2: Disposition.SCRAP}
    with pytest.raises(InvalidInput, match="no line 3"):
        receipt_buckets({1: ReturnReason.DEFECTIVE}, {3: Disposition.RESTOCK})


def test_return_lifecycle() -> None:
    check_return_transition(ReturnStatus.REQUESTED, ReturnStatus.RECEIVED)
    check_return_transition(ReturnStatus.REQUESTED, ReturnStatus.CANCELLED)
    check_return_transition(ReturnStatus.RECEIVED, ReturnStatus.REFUNDED)
    for current, target in [
        (ReturnStatus.RECEIVED, ReturnStatus.CANCELLED),
        (ReturnStatus.CANCELLED, ReturnStatus.RECEIVED),
        (ReturnStatus.REFUNDED, ReturnStatus.RECEIVED),
        (ReturnStatus.REQUESTED, ReturnStatus.REFUNDED),
    ]:
        with pytest.raises(InvalidTransition):
            check_return_transition(current, target)


def test_parsing_names_the_allowed_values() -> None:
    assert parse_reason("wrong_item") is ReturnReason.WRONG_ITEM
    assert parse_disposition("scrap") is Disposition.SCRAP
    with pytest.raises(InvalidInput, match="defective"):
        parse_reason("meh")
    with pytest.raises(InvalidInput, match="restock"):
        parse_disposition("bin")

"""Fulfilment rules without a database: subscriptions, retry schedule, SLA, updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dropline.domain import errors as e
from dropline.domain.fulfilment.rules import (
    DEFAULT_RETRY_SCHEDULE,
    FulfilmentUpdate,
    ShipTo,
    SlaPolicy,
    event_matches,
    plan_update,
    retry_delay,
    validate_event_patterns,
)
from dropline.domain.live.orders import OrderStatus as S


def test_patterns_exact_prefix_and_all() -> None:
    assert event_matches(["order.*"], "order.paid")
    assert event_matches(["order.*"], "order.ready_to_fulfill")
    assert not event_matches(["order.*"], "orders.paid")
    assert not event_matches(["order.paid"], "order.shipped")
    assert event_matches(["*"], "hold.created")
    assert validate_event_patterns([" order.* ", "order.*", "drop.sold_out"]) == [
        "order.*",
        "drop.sold_out",
    ]


@pytest.mark.parametrize("bad", [[], ["order."], ["or*der"], ["*.paid"], ["Order.Paid"], [""]])
def test_bad_patterns_are_refused(bad: list[str]) -> None:
    with pytest.raises(e.InvalidInput):
        validate_event_patterns(bad)


def test_default_schedule_is_at_least_8_attempts_over_24_hours() -> None:
    assert len(DEFAULT_RETRY_SCHEDULE) + 1 >= 8
    low = sum(retry_delay(n, DEFAULT_RETRY_SCHEDULE, lambda a, b: a) or 0 for n in range(1, 9))
    assert low >= 24 * 3600  # even with the shortest jitter
    assert retry_delay(len(DEFAULT_RETRY_SCHEDULE) + 1, DEFAULT_RETRY_SCHEDULE) is None


def test_jitter_stays_within_20_percent() -> None:
    delays = {retry_delay(2, (100, 100)) for _ in range(200)}
    assert all(d is not None and 80 <= d <= 120 for d in delays)
    assert len(delays) > 1


def test_ship_by_hours_and_business_days() -> None:
    friday = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    assert SlaPolicy(hours=48).ship_by(friday) == friday + timedelta(hours=48)
    # 2 business days after Friday 15:00 is Tuesday 15:00 (the weekend does not count).
    assert SlaPolicy(business_days=2).ship_by(friday) == datetime(2026, 11, 24, 15, tzinfo=UTC)
    policy = SlaPolicy(hours=48, at_risk_hours=12)
    due = friday + timedelta(hours=48)
    assert policy.classify(due, due - timedelta(hours=13)) == "on_track"
    assert policy.classify(due, due - timedelta(hours=12)) == "at_risk"
    assert policy.classify(due, due + timedelta(seconds=1)) == "breached"


def test_update_plans() -> None:
    assert plan_update(S.PAID, FulfilmentUpdate.PICKED).steps == (S.HANDED_OFF,)
    assert plan_update(S.HANDED_OFF, FulfilmentUpdate.PACKED).steps == ()
    assert plan_update(S.PAID, FulfilmentUpdate.SHIPPED).steps == (S.HANDED_OFF, S.SHIPPED)
    assert plan_update(S.SHIPPED, FulfilmentUpdate.DELIVERED).steps == (S.DELIVERED,)
    assert plan_update(S.EXCEPTION, FulfilmentUpdate.DELIVERED).steps == (S.DELIVERED,)
    assert plan_update(S.SHIPPED, FulfilmentUpdate.DELAYED).steps == ()
    for current, update in [
        (S.PAID, FulfilmentUpdate.DELIVERED),
        (S.HANDED_OFF, FulfilmentUpdate.DELIVERED),
        (S.DELIVERED, FulfilmentUpdate.SHIPPED),
        (S.CANCELLED, FulfilmentUpdate.SHIPPED),
        (S.DELIVERED, FulfilmentUpdate.DELAYED),
    ]:
        with pytest.raises(e.InvalidTransition):
            plan_update(current, update)


def test_ship_to_validation() -> None:
    clean = ShipTo(name=" Ada ", country="gb", email="ada@example.com").validated()
    assert clean.name == "Ada" and clean.country == "GB" and clean.service_level == "standard"
    for bad in (
        ShipTo(country="GBR"),
        ShipTo(email="not-an-email"),
        ShipTo(service_level="teleport"),
    ):
        with pytest.raises(e.InvalidInput):
            bad.validated()

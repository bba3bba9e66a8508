"""Fulfilment rules: which webhook goes where, when to retry, when an order must ship,
and what an inbound warehouse update does to an order.

Pure functions over values; no I/O. The services load and store, this module decides.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dropline.domain.errors import InvalidInput, InvalidTransition
from dropline.domain.live.orders import OrderStatus, check_order_transition

# --------------------------------------------------------------------------- webhooks

#: Delays (seconds) before attempt 2, 3, ...: 9 attempts over about 37.6 hours (at
#: least 30 h with the shortest jitter).
DEFAULT_RETRY_SCHEDULE: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000, 36000)
JITTER = 0.2


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not attempted yet
    FAILED = "failed"  # attempted, another attempt is scheduled
    DELIVERED = "delivered"
    DEAD = "dead"  # the last attempt failed: dead letter until replayed


DUE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
_PATTERN = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?")


def validate_event_patterns(patterns: Iterable[str]) -> list[str]:
    """Normalise subscription patterns: ``*``, ``order.*`` or an exact ``order.paid``.

    Raises ``InvalidInput`` for an empty list or a malformed pattern, so a typo does not
    silently subscribe to nothing."""
    out: list[str] = []
    for raw in patterns:
        p = raw.strip()
        ok = p == "*" or (len(p) <= 80 and _PATTERN.fullmatch(p) is not None)
        if not ok:
            raise InvalidInput(
                f"bad event type pattern {raw!r}: use '*', 'order.*' or 'order.paid'"
            )
        if p not in out:
            out.append(p)
    if not out:
        raise InvalidInput("subscribe to at least one event type ('*' for all)")
    return out


def event_matches(patterns: Sequence[str], event_type: str) -> bool:
    """True if ``event_type`` is covered by any pattern (``*``, ``prefix.*``, exact)."""
    for p in patterns:
        if p == "*" or p == event_type:
            return True
        if p.endswith(".*") and event_type.startswith(p[:-1]):
            return True
    return False


def validate_schedule(schedule: Sequence[int]) -> tuple[int, ...]:
    """A retry schedule must have at least one positive delay."""
    if not schedule or any(d <= 0 for d in schedule):
        raise InvalidInput("the retry schedule needs positive delays in seconds")
    return tuple(int(d) for d in schedule)


def retry_delay(
    attempts_made: int,
    schedule: Sequence[int],
    rand: Callable[[float, float], float] = random.uniform,
) -> float | None:
    """Seconds to wait after ``attempts_made`` failed attempts, with ±20 % jitter so a
    recovering receiver is not hit by every delivery at the same instant; ``None`` when
    the schedule is exhausted (the delivery is dead)."""
    if attempts_made < 1:
        return 0.0
    if attempts_made > len(schedule):
        return None
    base = float(schedule[attempts_made - 1])
    return base * rand(1.0 - JITTER, 1.0 + JITTER)


def is_success(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


# --------------------------------------------------------------------------- SLA


@dataclass(frozen=True)
class SlaPolicy:
    """Ship-by = payment time + ``hours``, or + ``business_days`` (Mon–Fri) when set."""

    hours: int = 48
    business_days: int | None = None
    at_risk_hours: int = 12

    def ship_by(self, paid_at: datetime) -> datetime:
        if self.business_days is None:
            return paid_at + timedelta(hours=self.hours)
        day = paid_at
        left = self.business_days
        while left > 0:
            day += timedelta(days=1)
            if day.weekday() < 5:
                left -= 1
        return day

    def classify(self, ship_by: datetime, now: datetime) -> str:
        """``breached`` (past the deadline), ``at_risk`` (inside the warning window) or
        ``on_track``; only meaningful for an order that has not shipped."""
        if now > ship_by:
            return "breached"
        if ship_by - now <= timedelta(hours=self.at_risk_hours):
            return "at_risk"
        return "on_track"


UNSHIPPED = (OrderStatus.PAID, OrderStatus.HANDED_OFF)


# --------------------------------------------------------------------------- inbound


class FulfilmentUpdate(StrEnum):
    """What a warehouse or carrier may tell us about an order."""

    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    EXCEPTION = "exception"  # delivery exception: lost, damaged, address problem
    DELAYED = "delayed"  # will ship later than promised; no status change


def parse_update(value: str) -> FulfilmentUpdate:
    try:
        return FulfilmentUpdate(value)
    except ValueError:
        allowed = ", ".join(u.value for u in FulfilmentUpdate)
        raise InvalidInput(f"unknown fulfilment update {value!r}; one of {allowed}") from None


@dataclass(frozen=True)
class UpdatePlan:
    """The status moves an update causes, in order (``[]`` = no status change)."""

    steps: tuple[OrderStatus, ...]


_TARGET: dict[FulfilmentUpdate, OrderStatus | None] = {
    FulfilmentUpdate.PICKED: OrderStatus.HANDED_OFF,
    FulfilmentUpdate.PACKED: OrderStatus.HANDED_OFF,
    FulfilmentUpdate.SHIPPED: OrderStatus.SHIPPED,
    FulfilmentUpdate.DELIVERED: OrderStatus.DELIVERED,
    FulfilmentUpdate.EXCEPTION: OrderStatus.EXCEPTION,
    FulfilmentUpdate.DELAYED: None,
}


def plan_update(current: OrderStatus, update: FulfilmentUpdate) -> UpdatePlan:
    """The status steps for ``update`` on an order in ``current``.

    A warehouse that already picks an order proves it received it, so a ``paid`` order is
    handed off first (the acknowledgement may still be on its way). Anything else that the
    order state machine refuses raises ``InvalidTransition`` (e.g. delivered before
    shipped)."""
    target = _TARGET[update]
    steps: list[OrderStatus] = []
    status = current
    if target is None:  # a delay notice: only while the order is still on its way
        if current not in (*UNSHIPPED, OrderStatus.SHIPPED, OrderStatus.EXCEPTION):
            raise InvalidTransition(
                f"an order that is {current} cannot be delayed", current=current, target=update
            )
        return UpdatePlan(())
    if status is OrderStatus.PAID and update in (
        FulfilmentUpdate.PICKED,
        FulfilmentUpdate.PACKED,
        FulfilmentUpdate.SHIPPED,
        FulfilmentUpdate.EXCEPTION,
    ):
        steps.append(OrderStatus.HANDED_OFF)
        status = OrderStatus.HANDED_OFF
    if status is target:
        return UpdatePlan(tuple(steps))  # picked/packed while handed off
    check_order_transition(status, target)
    steps.append(target)
    return UpdatePlan(tuple(steps))


# --------------------------------------------------------------------------- ship-to

SERVICE_LEVELS = frozenset({"standard", "express", "overnight", "economy", "pickup"})


@dataclass(frozen=True)
class ShipTo:
    """Where and how an order ships. All optional at checkout (a storefront may collect
    the address later), but a WMS needs ``name``, ``line1``, ``city``, ``postal_code`` and
    ``country`` before it can ship; ``email`` is where buyer messages go."""

    name: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    email: str = ""
    phone: str = ""
    service_level: str = "standard"

    def validated(self) -> ShipTo:
        """A cleaned copy; raises ``InvalidInput`` for a malformed country, email or
        service level."""
        country = self.country.strip().upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise InvalidInput("country must be an ISO 3166-1 alpha-2 code such as US")
        email = self.email.strip()
        if email and (email.count("@") != 1 or "." not in email.rsplit("@", 1)[1] or " " in email):
            raise InvalidInput(f"email {email!r} is not an email address")
        level = (self.service_level or "standard").strip().lower()
        if level not in SERVICE_LEVELS:
            raise InvalidInput(
                f"service_level {level!r} unknown; one of {', '.join(sorted(SERVICE_LEVELS))}"
            )
        return ShipTo(
            self.name.strip(),
            self.line1.strip(),
            self.line2.strip(),
            self.city.strip(),
            self.region.strip(),
            self.postal_code.strip(),
            country,
            email,
            self.phone.strip(),
            level,
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country,
            "email": self.email,
            "phone": self.phone,
            "service_level": self.service_level,
        }


class MessageKind(StrEnum):
    """Buyer messages; one per (causing event, kind)."""

    ORDER_CONFIRMED = "order_confirmed"
    PREPARING = "preparing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    DELAYED = "delayed"
    REFUNDED = "refunded"
    PREORDER_DELAYED = "preorder_delayed"  # a pre-order's ship date moved later
    PROBLEM_DECLINED = "problem_declined"  # a buyer's problem report was declined


class MessageStatus(StrEnum):
    QUEUED = "queued"  # waiting for the send job
    FAILED = "failed"  # a send failed; retried on the schedule
    SENT = "sent"  # handed to the SMTP server
    STORED = "stored"  # the embedded mailer keeps it in the database
    DEAD = "dead"  # every retry failed
    SKIPPED = "skipped"  # no recipient address


MESSAGE_RETRY_SCHEDULE: tuple[int, ...] = (60, 300, 1800, 7200, 21600)

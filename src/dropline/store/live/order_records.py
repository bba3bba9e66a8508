"""Checkouts and orders as the services see them: frozen records, and how a row becomes
one (``checkout_record``, ``order_record``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dropline.domain.live.orders import CheckoutStatus, OrderStatus


@dataclass(frozen=True)
class CheckoutRecord:
    id: str
    hold_id: str
    drop_id: str
    buyer_id: str
    status: CheckoutStatus
    amount: int
    currency: str
    provider: str
    payment_id: str | None
    payment_method: str
    decline_code: str | None
    failure_reason: str | None
    order_id: str | None
    items: list[dict[str, Any]]
    units: dict[str, int]
    attribution: dict[str, str]
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True)
class OrderLine:
    line_no: int
    kind: str
    ref_id: str
    description: str
    quantity: int
    unit_amount: int
    currency: str
    line_amount: int


@dataclass(frozen=True)
class OrderRecord:
    id: str
    drop_id: str
    buyer_id: str
    hold_id: str
    checkout_id: str
    status: OrderStatus
    status_reason: str
    currency: str
    total_amount: int
    refunded_amount: int
    provider: str
    payment_id: str
    attribution: dict[str, str]
    paid_at: datetime
    created_at: datetime
    updated_at: datetime
    version: int
    lines: tuple[OrderLine, ...] = field(default_factory=tuple)
    #: The short human number, ``DL-1042`` (``domain/live/orders.order_number``).
    number: str = ""


def checkout_record(r: Any) -> CheckoutRecord:
    return CheckoutRecord(
        r.id,
        r.hold_id,
        r.drop_id,
        r.buyer_id,
        CheckoutStatus(r.status),
        int(r.amount),
        r.currency,
        r.provider,
        r.payment_id,
        r.payment_method,
        r.decline_code,
        r.failure_reason,
        r.order_id,
        list(r.items),
        {k: int(v) for k, v in r.units.items()},
        dict(r.attribution),
        r.created_at,
        r.updated_at,
        r.version,
    )


def order_record(r: Any, lines: Sequence[OrderLine] = ()) -> OrderRecord:
    return OrderRecord(
        r.id,
        r.drop_id,
        r.buyer_id,
        r.hold_id,
        r.checkout_id,
        OrderStatus(r.status),
        r.status_reason,
        r.currency,
        int(r.total_amount),
        int(r.refunded_amount),
        r.provider,
        r.payment_id,
        dict(r.attribution),
        r.paid_at,
        r.created_at,
        r.updated_at,
        r.version,
        tuple(lines),
        r.number or "",
    )

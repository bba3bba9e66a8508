"""Orders and checkouts: what a buyer paid for, and the attempt to pay.

Order statuses grow with later capabilities; every transition goes through
``check_order_transition`` so the rules live in one place.
"""

from __future__ import annotations

from enum import StrEnum

from dropline.domain.errors import InvalidTransition


def order_number(prefix: str, seq: int) -> str:
    """The short number a buyer and the ops lead read, ``DL-1042``: the shop's prefix
    and the order's place in the shop's sequence. The opaque ``ord_`` id stays the key
    every API call uses; the number is for people (messages, pages, phone calls)."""
    return f"{prefix}-{seq}"


class OrderStatus(StrEnum):
    PAID = "paid"
    HANDED_OFF = "handed_off"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    EXCEPTION = "exception"


_ORDER_ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PAID: frozenset(
        {OrderStatus.HANDED_OFF, OrderStatus.CANCELLED, OrderStatus.REFUNDED}
    ),
    OrderStatus.HANDED_OFF: frozenset(
        {OrderStatus.SHIPPED, OrderStatus.CANCELLED, OrderStatus.REFUNDED, OrderStatus.EXCEPTION}
    ),
    OrderStatus.SHIPPED: frozenset(
        {OrderStatus.DELIVERED, OrderStatus.EXCEPTION, OrderStatus.REFUNDED}
    ),
    OrderStatus.EXCEPTION: frozenset(
        {OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.REFUNDED, OrderStatus.CANCELLED}
    ),
    OrderStatus.DELIVERED: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.CANCELLED: frozenset({OrderStatus.REFUNDED}),
}


def check_order_transition(current: OrderStatus, target: OrderStatus) -> None:
    if target not in _ORDER_ALLOWED.get(current, frozenset()):
        raise InvalidTransition(
            f"an order cannot go from {current} to {target}", current=current, target=target
        )


class CheckoutStatus(StrEnum):
    """``processing`` is written before the provider is called, so a crash in between is
    found and finished by recovery; the provider's idempotency key is the checkout id."""

    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    VOIDED = "voided"
    REFUNDED = "refunded"


FINAL_CHECKOUT = frozenset(
    {
        CheckoutStatus.SUCCEEDED,
        CheckoutStatus.FAILED,
        CheckoutStatus.VOIDED,
        CheckoutStatus.REFUNDED,
    }
)

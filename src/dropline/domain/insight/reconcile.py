"""Reconciliation checks: an identity that must hold between independent counts.

A check has a left side (one number, usually from one source) and a right side (named
parts, usually from other sources). It balances when the left equals the sum of the
right; the difference is ``left − sum(right)`` so a report can show exactly how much is
unaccounted for and on which side.

Money is counted by where it is (``PaymentState``): captured, only authorised (a
pre-order paid by authorisation, captured when it ships) or voided; ``count_money``
builds the money check so that ``net = captured − refunded`` always means money kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dropline.domain.live.orders import CheckoutStatus


@dataclass(frozen=True)
class Check:
    """``left_name = part₁ + part₂ + …``; ``unit`` is ``units``, ``holds``, ``orders`` or a
    currency code (minor units)."""

    key: str
    label: str
    unit: str
    left_name: str
    left: int
    right: Mapping[str, int]
    scope: str = ""
    signs: Mapping[str, int] = field(default_factory=dict)

    @property
    def right_total(self) -> int:
        return sum(v * self.signs.get(k, 1) for k, v in self.right.items())

    @property
    def difference(self) -> int:
        return self.left - self.right_total

    @property
    def balanced(self) -> bool:
        return self.difference == 0

    def formula(self) -> str:
        parts = []
        for i, name in enumerate(self.right):
            sign = self.signs.get(name, 1)
            op = ("− " if sign < 0 else "+ ") if i else ("− " if sign < 0 else "")
            parts.append(f"{op}{name}")
        return f"{self.left_name} = {' '.join(parts)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "scope": self.scope,
            "unit": self.unit,
            "formula": self.formula(),
            "left": {"name": self.left_name, "value": self.left},
            "right": [
                {"name": k, "value": v, "sign": self.signs.get(k, 1)} for k, v in self.right.items()
            ],
            "right_total": self.right_total,
            "difference": self.difference,
            "balanced": self.balanced,
        }


def all_balanced(checks: list[Check]) -> bool:
    return all(c.balanced for c in checks)


def pct(part: int, whole: int) -> float | None:
    """A percentage with one decimal, or None when there is nothing to divide by."""
    return round(100.0 * part / whole, 1) if whole else None


class PaymentState(StrEnum):
    """Where an order's money is, as the report counts it.

    Checkout captures at once, except for a cart of pre-orders paid by authorisation:
    that money is only reserved on the buyer's card until the pre-order ships (or the
    authorisation is about to lapse), and a cancellation releases it (a void) instead of
    refunding it."""

    CAPTURED = "captured"  # taken (what was given back is counted as refunded)
    AUTHORISED = "authorised"  # reserved on the card, taken when the pre-order ships
    VOIDED = "voided"  # the authorisation was released: nothing was ever taken


def payment_state(*, captured: bool, released: bool) -> PaymentState:
    """An order's payment state from its pre-order record: ``captured`` once the money
    was taken, else ``released`` once the authorisation was voided. An order that is not
    a pre-order was captured at checkout."""
    if captured:
        return PaymentState.CAPTURED
    return PaymentState.VOIDED if released else PaymentState.AUTHORISED


@dataclass(frozen=True)
class OrderMoney:
    """One order as the money check sees it (from the ``orders`` row)."""

    total: int
    refunded: int
    state: PaymentState


@dataclass(frozen=True)
class CheckoutMoney:
    """One checkout as the money check sees it (from the ``checkouts`` row); ``state``
    is its order's, ``CAPTURED`` when it has none (a payment given back at checkout was
    captured first, or it would have been voided, not refunded)."""

    amount: int
    status: str
    state: PaymentState


@dataclass(frozen=True)
class MoneyTotals:
    """A drop's money: ``captured`` was taken, ``refunded`` given back, ``authorised``
    is reserved on cards and not taken yet. ``net = captured − refunded``, the money
    kept; authorised money is not in it until it is captured."""

    captured: int
    authorised: int
    refunded: int

    @property
    def net(self) -> int:
        return self.captured - self.refunded


def count_money(
    orders: Iterable[OrderMoney], checkouts: Iterable[CheckoutMoney], currency: str
) -> tuple[Check, MoneyTotals]:
    """The money check and the totals it proves.

    Left, from the orders: net = Σ (total − refunded) of the orders whose money was
    captured. Right, from the checkouts: captured (checkouts that took money, less
    those whose order is only authorised or voided) − refunded (the captured orders'
    refunds, plus checkouts given back when the units ran out). Authorised orders are
    counted apart; voided ones in neither (their "refund" was a void: no money moved)."""
    orders = list(orders)
    took = (CheckoutStatus.SUCCEEDED.value, CheckoutStatus.REFUNDED.value)
    captured = given_back = 0
    for ch in checkouts:
        if ch.status in took and ch.state is PaymentState.CAPTURED:
            captured += ch.amount
        if ch.status == CheckoutStatus.REFUNDED.value:
            given_back += ch.amount
    kept = [o for o in orders if o.state is PaymentState.CAPTURED]
    totals = MoneyTotals(
        captured=captured,
        authorised=sum(o.total for o in orders if o.state is PaymentState.AUTHORISED),
        refunded=sum(o.refunded for o in kept) + given_back,
    )
    check = Check(
        "money",
        "Money",
        currency,
        "net",
        sum(o.total - o.refunded for o in kept),
        {"captured": totals.captured, "refunded": totals.refunded},
        "all payments",
        signs={"refunded": -1},
    )
    return check, totals

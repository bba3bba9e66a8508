"""The post-stream report's reconciliation: the checks that prove nothing was lost.

Every check compares *different* durable sources, so a lost or tampered row shows up as
a difference:

* units, per SKU and in total: units offered (``offer`` movements, and for a pre-order
  SKU its cap from the pre-order cap ledger) = sold (``sale`` movements of the drop's
  orders less ``cancel`` movements of cancelled ones, plus the lines of pre-orders not
  cancelled) + unsold, back in stock (``unoffer`` movements) + still offered (the offer
  rows, only while the drop has not ended) + cap closed (a pre-order's unsold cap once
  the drop ended: it never was stock, so nothing returns to stock);
* holds: placed = converted + expired + released + still active (``hold.*`` events);
* orders: paid (``order.paid`` events) = pending + handed off + shipped + delivered +
  exception + cancelled + refunded
  (the orders' statuses);
* money: net (captured orders' totals minus their refunds) = captured (checkouts that
  took money) − refunded (order refunds plus checkouts given back); a pre-order paid by
  authorisation is counted as authorised until it is captured, and a voided one in
  neither (``domain.insight.reconcile.count_money``).

The returns check (units the ledger's ``return`` movements brought back = restocked +
sent to inspection + scrapped) is in ``services/aftersales/report_returns.py``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from dropline.domain.insight.reconcile import (
    Check,
    CheckoutMoney,
    MoneyTotals,
    OrderMoney,
    PaymentState,
    count_money,
    pct,
)
from dropline.domain.live.orders import OrderStatus
from dropline.services.insight.report_sales import sku_label
from dropline.services.live.drop_catalog import DropCatalog
from dropline.store.insight.repo import DropRow, PreorderFigures, SaleRow

#: The units check's name for unsold units the drop's end put back in ``available``:
#: "returned" is kept for what buyers send back (the Returns section).
BACK_IN_STOCK = "unsold, back in stock"


def money(
    sales: Iterable[SaleRow],
    checkout_rows: Iterable[Any],
    payments: Mapping[str, PaymentState],
    currency: str,
) -> tuple[Check, MoneyTotals]:
    """The money check and totals of a drop's orders and checkouts; ``payments`` says
    where each pre-order's money is (every other order was captured at checkout)."""
    captured = PaymentState.CAPTURED
    return count_money(
        (
            OrderMoney(s.total_amount, s.refunded_amount, payments.get(s.order_id, captured))
            for s in sales
        ),
        (
            CheckoutMoney(int(r.amount), r.status, payments.get(r.order_id or "", captured))
            for r in checkout_rows
        ),
        currency,
    )


def reconcile(
    drop: DropRow,
    offers: Mapping[str, tuple[int, int, bool]],
    moves: Mapping[str, Mapping[str, int]],
    sales: list[SaleRow],
    sold: Mapping[str, int],
    pre: PreorderFigures,
    hold_events: list[Any],
    paid_events: list[Any],
    money_check: Check,
    catalog: DropCatalog | None,
) -> list[Check]:
    """The units (per SKU and for all), holds, orders and money checks, in that order."""
    ended = drop.status == "ended"
    offered_mv = moves.get("offer", {})
    returned_mv = moves.get("unoffer", {})
    skus = sorted(
        set(offered_mv) | set(returned_mv) | set(offers) | set(sold) | set(pre.caps),
        key=lambda k: sku_label(catalog, k),
    )
    # Only a drop with pre-order offers shows the "cap closed" part.
    parts = ["sold", BACK_IN_STOCK, "still offered"]
    if pre.skus or pre.caps:
        parts.append("cap closed")
    checks: list[Check] = []
    totals = Counter[str]()
    for sku_id in skus:
        cap, taken, _ = offers.get(sku_id, (0, 0, False))
        unsold = cap - taken
        # Unsold in-stock units went back to stock with ``unoffer`` movements when the
        # drop ended; an unsold pre-order cap simply closes (it never was stock).
        right = {
            "sold": sold.get(sku_id, 0),
            BACK_IN_STOCK: returned_mv.get(sku_id, 0),
            "still offered": 0 if ended else unsold,
            "cap closed": unsold if ended and sku_id in pre.skus else 0,
        }
        right = {k: right[k] for k in parts}
        offered = offered_mv.get(sku_id, 0) + pre.caps.get(sku_id, 0)
        label, _, _ = sku_label(catalog, sku_id)
        checks.append(Check("units", "Units", "units", "offered", offered, right, label))
        totals["offered"] += offered
        for k, v in right.items():
            totals[k] += v
    checks.append(
        Check(
            "units",
            "Units",
            "units",
            "offered",
            totals["offered"],
            {k: totals[k] for k in parts},
            "all SKUs",
        )
    )
    h = holds_summary(hold_events)
    checks.append(
        Check(
            "holds",
            "Holds",
            "holds",
            "placed",
            h["placed"],
            {
                "converted": h["converted"],
                "expired": h["expired"],
                "released": h["released"],
                "active": h["active"],
            },
            "all holds",
        )
    )
    status = Counter(s.status for s in sales)
    checks.append(
        Check(
            "orders",
            "Paid orders",
            "orders",
            "paid",
            len({e.aggregate_id for e in paid_events}),
            {
                "pending": status[OrderStatus.PAID.value],
                "handed off": status[OrderStatus.HANDED_OFF.value],
                "shipped": status[OrderStatus.SHIPPED.value],
                "delivered": status[OrderStatus.DELIVERED.value],
                "exception": status[OrderStatus.EXCEPTION.value],
                "cancelled": status[OrderStatus.CANCELLED.value],
                "refunded": status[OrderStatus.REFUNDED.value],
            },
            "all orders",
        )
    )
    checks.append(money_check)
    return checks


def holds_summary(hold_events: list[Any]) -> dict[str, Any]:
    """Holds placed and what became of them (each hold once, by its ``hold.*`` events);
    the holds check and the report's abandonment section both read it."""
    by_type: dict[str, set[str]] = defaultdict(set)
    for e in hold_events:
        by_type[e.type].add(e.aggregate_id)
    placed = by_type["hold.placed"]
    terminal = by_type["hold.converted"] | by_type["hold.expired"] | by_type["hold.released"]
    n = len(placed)
    return {
        "placed": n,
        "converted": len(by_type["hold.converted"]),
        "expired": len(by_type["hold.expired"]),
        "released": len(by_type["hold.released"]),
        "active": len(placed - terminal),
        "abandonment_pct": pct(len(by_type["hold.expired"]) + len(by_type["hold.released"]), n),
        "conversion_pct": pct(len(by_type["hold.converted"]), n),
    }

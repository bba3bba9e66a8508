"""Pure pieces of the monitor and report: reconciliation checks, UI session cookies,
stock states, host cues and the chart."""

from __future__ import annotations

from typing import Any

from dropline.domain.insight.reconcile import (
    Check,
    CheckoutMoney,
    OrderMoney,
    PaymentState,
    all_balanced,
    count_money,
    payment_state,
)
from dropline.services.insight.monitor_cues import host_cues, stock_state
from dropline.web import session as sess
from dropline.web.chart import sales_chart
from dropline.web.render import money


def test_check_balances_with_signs_and_reports_the_difference() -> None:
    money_check = Check(
        "money",
        "Money",
        "USD",
        "net",
        9000,
        {"captured": 9500, "refunded": 500},
        signs={"refunded": -1},
    )
    assert money_check.balanced and money_check.formula() == "net = captured − refunded"
    units = Check("units", "Units", "units", "offered", 10, {"sold": 3, "returned": 6})
    assert not units.balanced and units.difference == 1
    assert units.as_dict()["right_total"] == 9
    assert not all_balanced([money_check, units])


def test_money_counts_authorised_and_voided_pre_orders_apart() -> None:
    assert payment_state(captured=True, released=True) is PaymentState.CAPTURED
    assert payment_state(captured=False, released=False) is PaymentState.AUTHORISED
    assert payment_state(captured=False, released=True) is PaymentState.VOIDED
    cap, auth, void = PaymentState.CAPTURED, PaymentState.AUTHORISED, PaymentState.VOIDED
    orders = [
        OrderMoney(3000, 0, cap),
        OrderMoney(6500, 6500, cap),  # cancelled and refunded
        OrderMoney(7500, 0, auth),  # a pre-order waiting, card authorised
        OrderMoney(2500, 2500, void),  # a pre-order cancelled: authorisation voided
    ]
    checkouts = [
        CheckoutMoney(3000, "succeeded", cap),
        CheckoutMoney(6500, "succeeded", cap),
        CheckoutMoney(7500, "succeeded", auth),
        CheckoutMoney(2500, "succeeded", void),
        CheckoutMoney(1500, "refunded", cap),  # sold out after capture: given back
        CheckoutMoney(900, "voided", cap),
        CheckoutMoney(800, "failed", cap),
    ]
    check, totals = count_money(orders, checkouts, "USD")
    assert (totals.captured, totals.authorised, totals.refunded) == (11000, 7500, 8000)
    assert totals.net == 3000 and check.left == 3000 and check.balanced
    assert check.formula() == "net = captured − refunded"
    tampered = [OrderMoney(3100, 0, cap), *orders[1:]]
    assert count_money(tampered, checkouts, "USD")[0].difference == 100


def test_session_cookie_round_trip_and_forgery() -> None:
    secret = sess.derive_secret("", "buyer-secret")
    assert secret != sess.derive_secret("", "other-secret")
    s = sess.new_session("key_1", "ops lead", "ops", now=1000)
    value = sess.encode(secret, s)
    assert sess.decode(secret, value, now=1001) == s
    body, sig = value.split(".")
    assert sess.decode(secret, f"{body}x.{sig}", now=1001) is None
    assert sess.decode(b"another key", value, now=1001) is None
    assert sess.decode(secret, value, now=1000 + sess.SESSION_TTL_S + 1) is None
    assert sess.decode(secret, "garbage", now=1001) is None
    assert sess.decode(secret, f"{body}.{sig[:-1]}é", now=1001) is None  # not a TypeError
    assert sess.csrf_ok(s, s.csrf) and not sess.csrf_ok(s, "x") and not sess.csrf_ok(None, "x")


def row(label: str, remaining: int, product: str = "p1", **kw: Any) -> dict[str, Any]:
    return {
        "label": label,
        "remaining": remaining,
        "offered": 10,
        "product_id": product,
        "product": "Hoodie",
        "name": f"Hoodie — {label}",
        "paused": False,
        "low_stock_threshold": 3,
    } | kw


def test_stock_states_and_host_cues() -> None:
    assert [stock_state(n, 3) for n in (0, 3, 4)] == ["sold_out", "low", "in_stock"]
    cues = host_cues(
        [
            row("Black / M", 0),
            row("Black / L", 12),
            row("Sand / M", 20),
            row("Sand / S", 2),
            row("Cap", 0, product="p2"),
        ]
    )
    assert "Hoodie — Black / M sold out — Black / L has 12 left" in cues
    assert "Only 2 left of Hoodie — Sand / S" in cues
    assert "Hoodie — Cap sold out — nothing left of Hoodie" in cues


def test_chart_is_self_contained_svg() -> None:
    svg = sales_chart(
        {
            "bucket_s": 60,
            "points": [
                {"t": "2026-01-01T00:00:00Z", "units": 2, "cumulative": 2},
                {"t": "2026-01-01T00:01:00Z", "units": 5, "cumulative": 7},
            ],
        }
    )
    assert svg.startswith("<svg") and svg.count('class="chart-bar"') == 2
    assert "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "No sales yet" in sales_chart({"bucket_s": 60, "points": []})


def test_money_formatting_uses_integers() -> None:
    assert money(123456, "USD") == "USD 1,234.56"
    assert money(-5, "EUR") == "EUR -0.05"
    assert money(1500, "JPY") == "JPY 1,500"

"""One money format everywhere a person reads it: ``USD 1,234.50``."""

from __future__ import annotations

from dropline.domain.money import Money, format_money
from dropline.web.render import money


def test_code_first_thousands_and_minor_digits() -> None:
    assert format_money(123450, "USD") == "USD 1,234.50"
    assert format_money(5, "EUR") == "EUR 0.05"
    assert format_money(-500, "USD") == "USD -5.00"
    assert format_money(1200, "JPY") == "JPY 1,200"
    assert format_money(-1200, "JPY") == "JPY -1,200"
    assert format_money(1234567, "KWD") == "KWD 1,234.567"


def test_pages_and_messages_use_the_same_form() -> None:
    assert money(6500, "USD") == Money(6500, "USD").format() == "USD 65.00"
    assert money(None, "USD") == "—"

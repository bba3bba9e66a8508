"""One money format everywhere a person reads it: ``USD 1,234.50``."""

from __future__ import annotations

import pytest

from dropline.domain.errors import InvalidInput
from dropline.domain.money import Money, format_money, parse_amount
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


def test_typed_prices_become_minor_units_without_floats() -> None:
    assert parse_amount("65", "USD") == 6500
    assert parse_amount("65.5", "usd") == 6550
    assert parse_amount("1,234.56", "USD") == 123456
    assert parse_amount("USD 19.99", "USD") == 1999
    assert parse_amount("1200", "JPY") == 1200
    assert parse_amount("0.001", "KWD") == 1
    for bad, cur in [("65.001", "USD"), ("1.5", "JPY"), ("-5", "USD"), ("", "USD"),
                     ("abc", "USD"), ("6.5e3", "USD"), ("٣", "USD"), ("1.", "USD")]:  # fmt: skip
        with pytest.raises(InvalidInput):
            parse_amount(bad, cur)

"""Money: integer minor units plus an ISO 4217 currency. Never floats."""

from __future__ import annotations

from dataclasses import dataclass

from dropline.domain.errors import InvalidInput

# Minor-unit exponents (ISO 4217) for currencies that are not the usual 2.
_EXPONENTS = {
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "CLP": 0,
    "ISK": 0,
    "UGX": 0,
    "XAF": 0,
    "XOF": 0,
    "BHD": 3,
    "KWD": 3,
    "JOD": 3,
}
SUPPORTED = frozenset(
    {
        "USD",
        "EUR",
        "GBP",
        "CAD",
        "AUD",
        "NZD",
        "CHF",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "JPY",
        "KRW",
        "SGD",
        "HKD",
        "MXN",
        "BRL",
        "INR",
        "ZAR",
        "ISK",
        "BHD",
        "KWD",
        "JOD",
        "VND",
        "CLP",
    }
)


def check_currency(code: str) -> str:
    """Return the upper-case ISO 4217 code, or raise ``InvalidInput`` for an unknown one."""
    up = code.upper()
    if up not in SUPPORTED:
        raise InvalidInput(f"unsupported currency {code!r}", currency=code)
    return up


@dataclass(frozen=True, order=True)
class Money:
    """An amount in minor units (cents for USD) of one currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise InvalidInput("money amounts are integers in minor units")

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidInput(
                f"cannot combine {self.currency} with {other.currency}",
                currency=other.currency,
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    def format(self) -> str:
        """Human form, e.g. ``USD 65.00`` (see ``format_money``); for display only."""
        return format_money(self.amount, self.currency)


def format_money(amount: int, currency: str) -> str:
    """The one human form of money everywhere a person reads it (CLI tables, pages,
    buyer messages): the ISO code first, then the amount with thousands separators and
    the currency's minor-unit digits, e.g. ``USD 1,234.50``, ``JPY 1,200``,
    ``USD -5.00``. Integer arithmetic only, so no amount is ever rounded."""
    exp = _EXPONENTS.get(currency, 2)
    sign = "-" if amount < 0 else ""
    if exp == 0:
        return f"{currency} {sign}{abs(amount):,}"
    whole, frac = divmod(abs(amount), 10**exp)
    return f"{currency} {sign}{whole:,}.{frac:0{exp}d}"


def zero(currency: str) -> Money:
    return Money(0, currency)


def parse_amount(text: str, currency: str) -> int:
    """A price a person typed (``65``, ``65.00``, ``1,234.5``, ``USD 65.00``) in minor
    units of ``currency``: no floats, no rounding. More decimals than the currency has
    (``65.001`` USD, ``1.5`` JPY), a sign or anything but digits is ``InvalidInput``."""
    cur = check_currency(currency)
    raw = text.strip()
    if raw.upper().startswith(cur):
        raw = raw[len(cur) :].strip()
    raw = raw.replace(",", "").replace("_", "")
    whole, dot, frac = raw.partition(".")
    exp = _EXPONENTS.get(cur, 2)
    if (
        not whole.isascii()
        or not whole.isdigit()
        or (dot and not (frac.isascii() and frac.isdigit()))
        or len(frac) > exp
    ):
        places = f"at most {exp} decimal places" if exp else "no decimal places"
        raise InvalidInput(
            f"price {text!r} is not an amount of {cur} (digits, {places}, e.g. "
            f"{format_money(6500 if exp else 65, cur).split(' ')[1]})",
            field="price",
        )
    minor: int = int(whole) * 10**exp + (int(frac.ljust(exp, "0")) if exp else 0)
    return minor

"""Opaque identifiers with a type prefix (``drp_``, ``sku_``, ``hld_``, ``ord_`` ...).

The random part is 120 bits of URL-safe base32 from ``os.urandom``: unguessable, so a hold or
order id can be shown to a buyer without leaking anyone else's.
"""

from __future__ import annotations

import os

PREFIXES = frozenset(
    {
        "prd",
        "sku",
        "bdl",
        "drp",
        "hld",
        "chk",
        "ord",
        "mov",
        "evt",
        "key",
        "pay",
        "cnt",
        "msg",
        "ret",
    }
)


_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower case
# Every 10-bit value as its two base32 characters: 12 lookups encode 120 bits. The
# standard library's b32encode is pure Python on 3.11 and cost ~20 µs per id.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
_SHIFTS = tuple(range(110, -1, -10))


def b32_120(raw: bytes) -> str:
    """Lower-case base32 of 15 bytes (24 characters, no padding), as
    ``base64.b32encode(raw).decode().lower()`` but a dozen times faster."""
    n = int.from_bytes(raw, "big")
    return "".join([_PAIRS[(n >> s) & 1023] for s in _SHIFTS])


def new_id(prefix: str) -> str:
    """A fresh id such as ``hld_3kq9...``; ``prefix`` must be a known type prefix."""
    if prefix not in PREFIXES and not prefix.isalpha():
        raise ValueError(f"bad id prefix {prefix!r}")
    return f"{prefix}_{b32_120(os.urandom(15))}"  # what secrets.token_bytes returns


def has_prefix(value: str, prefix: str) -> bool:
    """True if ``value`` looks like an id of that type (cheap input check, not a lookup)."""
    return value.startswith(prefix + "_") and len(value) > len(prefix) + 1

"""Opaque identifiers with a type prefix (``drp_``, ``sku_``, ``hld_``, ``ord_`` ...).

The random part is 96 bits of URL-safe base32 from ``secrets``: unguessable, so a hold or
order id can be shown to a buyer without leaking anyone else's.
"""

from __future__ import annotations

import base64
import secrets

PREFIXES = frozenset(
    {"prd", "sku", "bdl", "drp", "hld", "chk", "ord", "mov", "evt", "key", "pay", "cnt", "msg"}
)


def new_id(prefix: str) -> str:
    """A fresh id such as ``hld_3kq9...``; ``prefix`` must be a known type prefix."""
    if prefix not in PREFIXES and not prefix.isalpha():
        raise ValueError(f"bad id prefix {prefix!r}")
    raw = base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()
    return f"{prefix}_{raw}"


def has_prefix(value: str, prefix: str) -> bool:
    """True if ``value`` looks like an id of that type (cheap input check, not a lookup)."""
    return value.startswith(prefix + "_") and len(value) > len(prefix) + 1

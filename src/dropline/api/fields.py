"""Scalar field types every request model shares: integers in a query or a path, RFC
3339 times, API key scopes. One definition each, so one rule holds on every route.

A body's integers are ``pydantic.StrictInt`` (JSON integers only: ``5.0``, ``true``
and ``"5"`` are refused); a query or a path is text, where ``QueryInt`` takes digits
only (pydantic alone would also read ``5.0``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from dropline.domain.inputs import INT_MAX

_DIGITS = re.compile(r"-?[0-9]+")


def _digits(value: Any) -> Any:
    """A query or path integer is decimal digits: pydantic would also read ``5.0``."""
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be an integer (digits only)")
    return value


#: Digits only, for an integer in a query or a path (text on the wire). Put it after the
#: ``Query(ge=..., le=...)`` so the bounds stay ``minimum``/``maximum`` in the schema:
#: ``Annotated[int, Query(ge=1), Digits]``.
Digits = BeforeValidator(_digits)
#: An integer in a query or a path with no bounds.
QueryInt = Annotated[int, Digits]
#: The largest value a database ``INTEGER`` column holds: the bound of any integer input
#: that has no smaller one of its own (a larger one was a 500 from the database).
MAX_INT32 = INT_MAX  # domain/inputs.py: what a database INTEGER holds

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: str) -> str:
    """Text that is an RFC 3339 time with a zone (``Z`` or an offset), returned in the
    form every route parses (upper-case ``T`` and ``Z``; a leap second ``:60`` is read
    as ``:59``, which Python's datetime cannot hold)."""
    if not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 time with a zone, e.g. 2025-01-31T18:00:00Z")
    text = f"{value[:10]}T{value[11:17]}{'59' if value[17:19] == '60' else value[17:19]}"
    text += value[19:].upper()
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an RFC 3339 time that exists") from None
    return text


#: An RFC 3339 time with a zone, kept as the text the caller sent.
Rfc3339 = Annotated[str, AfterValidator(_rfc3339), Field(json_schema_extra={"format": "date-time"})]
#: The scopes of an API key, from the least to the most (``domain.platform.api_keys.
#: SCOPES``; ``tests/integration/test_openapi_contract.py`` checks they agree).
Scope = Literal["storefront", "ops", "admin"]

"""What outside input must be before it is stored: text the databases can hold and
integers their columns can hold.

- **Text.** PostgreSQL's text types cannot hold NUL (U+0000), and no database driver
  can encode a lone surrogate (U+D800-U+DFFF without its pair: JSON's ``"\\ud800"``, or
  bytes Python decoded with ``surrogateescape``) as UTF-8. Either one reaching the
  database was an error deep in a transaction (a 500); checked here, it is a refusal
  that names the field. Every request body model (``api/strict.py``), the request's
  path, query and form values (``api/deps.py``), the CLI's arguments (``cli/console.py``)
  and the rows of a tracking import use this one rule.
- **Integers.** ``INT_MAX`` is the largest value of an ``Integer`` column on PostgreSQL
  (32-bit); ``BIGINT_MAX`` of a ``BigInteger`` column (and of every SQLite integer).
  An API integer that reaches a column declares a bound no larger (the OpenAPI test in
  ``tests/integration/test_api_bad_input.py`` checks that each one has a bound).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from dropline.domain.errors import InvalidInput

INT_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1

NUL = "must not contain the NUL character (U+0000)"
UNENCODABLE = "must be valid Unicode text (it holds an unpaired surrogate, e.g. \\ud800)"

T = TypeVar("T")


def encodable(value: str) -> bool:
    """Whether ``value`` can be written as UTF-8 at all (no lone surrogate)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        return NUL
    if not encodable(value):
        return UNENCODABLE
    return None


def nested_text_problem(value: object) -> str | None:
    """``text_problem`` of the first bad string in ``value``: a string, or a JSON-like
    structure of dicts (keys and values), lists and tuples holding strings."""
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, Mapping):
        for k, v in value.items():
            problem = nested_text_problem(k) or nested_text_problem(v)
            if problem:
                return problem
    elif isinstance(value, (list, tuple)):
        for v in value:
            problem = nested_text_problem(v)
            if problem:
                return problem
    return None


def check_text(value: T, field: str) -> T:
    """``value`` unchanged when every string in it can be stored (see
    ``nested_text_problem``); otherwise ``InvalidInput`` naming ``field``. The message
    never repeats the value: a surrogate cannot even be printed."""
    problem = nested_text_problem(value)
    if problem:
        raise InvalidInput(f"{field}: {problem}", field=field)
    return value

"""Jinja2 templates shipped in ``dropline/templates`` (buyer messages, pick lists,
packing slips). HTML is autoescaped; a missing variable is an error, not a blank."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("dropline", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        # The templates ship inside the package: no file-system check per render (it
        # was a handful of stat calls per order confirmation on the checkout path).
        auto_reload=False,
    )


def render(template: str, /, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``."""
    return environment().get_template(template).render(**context)

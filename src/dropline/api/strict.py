"""``Strict``: the base of every request body model.

Unknown fields are refused, and every string a body holds (a ``str`` field, the keys and
values of a dict, the items of a list, free-form JSON such as a QC spec's ``content``)
must be text the database can store (``domain/inputs.py``): a NUL or a lone surrogate is
a 422 ``validation_error`` whose ``errors`` name the field, before any handler runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from dropline.domain.inputs import nested_text_problem


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        """Every field, whatever its type: nested models check their own fields, so only
        strings, dicts and lists are looked into (anything else has no text)."""
        if isinstance(value, (str, dict, list, tuple)):
            problem = nested_text_problem(value)
            if problem:
                raise PydanticCustomError("invalid_text", problem)
        return value

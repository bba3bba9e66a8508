"""Reconciliation checks: an identity that must hold between independent counts.

A check has a left side (one number, usually from one source) and a right side (named
parts, usually from other sources). It balances when the left equals the sum of the
right; the difference is ``left − sum(right)`` so a report can show exactly how much is
unaccounted for and on which side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    """``left_name = part₁ + part₂ + …``; ``unit`` is ``units``, ``holds``, ``orders`` or a
    currency code (minor units)."""

    key: str
    label: str
    unit: str
    left_name: str
    left: int
    right: Mapping[str, int]
    scope: str = ""
    signs: Mapping[str, int] = field(default_factory=dict)

    @property
    def right_total(self) -> int:
        return sum(v * self.signs.get(k, 1) for k, v in self.right.items())

    @property
    def difference(self) -> int:
        return self.left - self.right_total

    @property
    def balanced(self) -> bool:
        return self.difference == 0

    def formula(self) -> str:
        parts = []
        for i, name in enumerate(self.right):
            sign = self.signs.get(name, 1)
            op = ("− " if sign < 0 else "+ ") if i else ("− " if sign < 0 else "")
            parts.append(f"{op}{name}")
        return f"{self.left_name} = {' '.join(parts)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "scope": self.scope,
            "unit": self.unit,
            "formula": self.formula(),
            "left": {"name": self.left_name, "value": self.left},
            "right": [
                {"name": k, "value": v, "sign": self.signs.get(k, 1)} for k, v in self.right.items()
            ],
            "right_total": self.right_total,
            "difference": self.difference,
            "balanced": self.balanced,
        }


def all_balanced(checks: list[Check]) -> bool:
    return all(c.balanced for c in checks)


def pct(part: int, whole: int) -> float | None:
    """A percentage with one decimal, or None when there is nothing to divide by."""
    return round(100.0 * part / whole, 1) if whole else None

"""The sold-out gate: a refusal remembered per request shape for one window."""

from __future__ import annotations

import pytest

from dropline.domain.errors import SoldOut
from dropline.engine.sold_out_gate import SoldOutGate

A = ("drp_a", (("sku_1", 1),))
A2 = ("drp_a", (("sku_1", 2),))
B = ("drp_b", (("sku_1", 1),))


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_refusal_is_given_again_until_the_window_closes() -> None:
    clock = Clock()
    gate = SoldOutGate(0.2, clock=clock)
    assert gate.check(A) is None
    gate.remember(A, SoldOut("SKU sku_1 is sold out", sku_id="sku_1"))
    clock.t += 0.19
    again = gate.check(A)
    assert isinstance(again, SoldOut)
    assert (again.detail, again.extra) == ("SKU sku_1 is sold out", {"sku_id": "sku_1"})
    assert gate.check(A2) is None  # another shape asks the engine
    clock.t += 0.02
    assert gate.check(A) is None
    assert len(gate) == 0


def test_each_answer_is_a_fresh_exception() -> None:
    gate = SoldOutGate(1.0, clock=Clock())
    gate.remember(A, SoldOut("gone", sku_id="sku_1"))
    first, second = gate.check(A), gate.check(A)
    assert first is not None and second is not None and first is not second
    assert first.__traceback__ is None


def test_forget_one_drop_or_all() -> None:
    gate = SoldOutGate(1.0, clock=Clock())
    for shape in (A, A2, B):
        gate.remember(shape, SoldOut("gone"))
    gate.forget("drp_a")
    assert (gate.check(A), gate.check(A2)) == (None, None)
    assert gate.check(B) is not None
    gate.forget()
    assert gate.check(B) is None


def test_a_zero_window_remembers_nothing() -> None:
    gate = SoldOutGate(0.0, clock=Clock())
    gate.remember(A, SoldOut("gone"))
    assert gate.check(A) is None and len(gate) == 0


def test_the_table_is_bounded() -> None:
    gate = SoldOutGate(1.0, max_shapes=3, clock=Clock())
    for n in range(3):
        gate.remember(("drp", (("sku", n + 1),)), SoldOut("gone"))
    gate.remember(A, SoldOut("gone"))
    assert len(gate) == 1 and gate.check(A) is not None


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        SoldOutGate(-1)

"""Stateful property test of the memory engine against a simple model.

Hypothesis drives random sequences of place / release / start_payment / convert / take /
advance-time / expire with a manual clock. After every step, for every SKU:

    remaining + held + converted_or_taken == offered      (no unit created or lost)
    remaining >= 0, held >= 0                              (no oversell)
    held == units of the live holds                        (counters match holds)

and whenever a hold is placed or units are taken outside a hold (a late payment), its
buyer's live + converted + taken units <= limit (a refusal for the limit is a real one).

``converted_or_taken`` and the per-buyer usage come from the model, which only follows
the engine's answers (which hold won, which was converted), never its internals.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dropline.domain.errors import DroplineError, HoldExpired, LimitExceeded
from dropline.domain.live.holds import HoldItem, HoldRequest, HoldStatus, ItemKind
from dropline.engine.memory import MemoryEngine
from dropline.services.ports import DropSnapshot, EngineOffer

DROP = "drp_prop"
OFFERED = {"sku_a": 6, "sku_b": 3, "sku_c": 10}
LIMITS: dict[str, int | None] = {"sku_a": 3, "sku_b": 2, "sku_c": None}
BUYERS = ["b1", "b2", "b3"]
T = TypeVar("T")


_LOOP = asyncio.new_event_loop()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """One engine step: every engine method completes without awaiting I/O."""
    return _LOOP.run_until_complete(coro)


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = MemoryEngine()
        self.now = 1_800_000_000.0
        snap = DropSnapshot(
            drop_id=DROP,
            accepting=True,
            offers={s: EngineOffer(s, n, LIMITS[s]) for s, n in OFFERED.items()},
        )
        assert run(self.engine.ensure_drop(snap)) is True
        self.hold_ids: list[str] = []
        self.sold = dict.fromkeys(OFFERED, 0)  # converted or taken, per SKU
        self.sold_by_buyer: dict[tuple[str, str], int] = {}

    @rule(
        buyer=st.sampled_from(BUYERS),
        units=st.dictionaries(st.sampled_from(sorted(OFFERED)), st.integers(1, 4), min_size=1),
        ttl=st.integers(1, 120),
    )
    def place(self, buyer: str, units: dict[str, int], ttl: int) -> None:
        request = HoldRequest(
            drop_id=DROP,
            buyer_id=buyer,
            items=tuple(HoldItem(ItemKind.SKU, s, n) for s, n in units.items()),
            units=units,
            ttl_s=ttl,
        )
        before = run(self.engine.counts(DROP))
        try:
            hold = run(self.engine.place_hold(request, self.now))
        except DroplineError:
            assert run(self.engine.counts(DROP)) == before  # refused → nothing changed
            return
        assert hold.status == HoldStatus.ACTIVE
        self.hold_ids.append(hold.id)
        # A placed hold never takes its buyer past a limit: usage is units in live holds
        # (this one included) plus everything converted or taken.
        live = [h for h in self._holds() if h.status in (HoldStatus.ACTIVE, HoldStatus.PAYING)]
        for sku in units:
            limit = LIMITS[sku]
            if limit is not None:
                in_holds = sum(h.units.get(sku, 0) for h in live if h.buyer_id == buyer)
                assert in_holds + self.sold_by_buyer.get((buyer, sku), 0) <= limit

    @precondition(lambda self: bool(self.hold_ids))
    @rule(i=st.integers(0, 10_000))
    def release(self, i: int) -> None:
        hold_id = self.hold_ids[i % len(self.hold_ids)]
        with contextlib.suppress(DroplineError):
            run(self.engine.release(hold_id, self.now))

    @precondition(lambda self: bool(self.hold_ids))
    @rule(i=st.integers(0, 10_000), cap=st.integers(1, 400))
    def start_payment(self, i: int, cap: int) -> None:
        hold_id = self.hold_ids[i % len(self.hold_ids)]
        before = run(self.engine.get_hold(hold_id))
        assert before is not None
        try:
            after = run(self.engine.start_payment(hold_id, self.now, cap))
        except HoldExpired:
            return
        except DroplineError:
            return
        assert after.status == HoldStatus.PAYING
        assert after.expires_at >= before.expires_at
        if before.extended:
            assert after.expires_at == before.expires_at

    @precondition(lambda self: bool(self.hold_ids))
    @rule(i=st.integers(0, 10_000))
    def convert(self, i: int) -> None:
        hold_id = self.hold_ids[i % len(self.hold_ids)]
        before = run(self.engine.get_hold(hold_id))
        assert before is not None
        result = run(self.engine.convert(hold_id, self.now))
        if result is None:
            assert not before.is_live(self.now)
            return
        assert result.status == HoldStatus.CONVERTED
        if before.status != HoldStatus.CONVERTED:
            for sku, n in result.units.items():
                self.sold[sku] += n
                key = (result.buyer_id, sku)
                self.sold_by_buyer[key] = self.sold_by_buyer.get(key, 0) + n

    @rule(
        buyer=st.sampled_from(BUYERS),
        units=st.dictionaries(st.sampled_from(sorted(OFFERED)), st.integers(1, 3), min_size=1),
    )
    def take(self, buyer: str, units: dict[str, int]) -> None:
        before = run(self.engine.counts(DROP))
        live = [h for h in self._holds() if h.status in (HoldStatus.ACTIVE, HoldStatus.PAYING)]
        usage = {
            sku: sum(h.units.get(sku, 0) for h in live if h.buyer_id == buyer)
            + self.sold_by_buyer.get((buyer, sku), 0)
            for sku in units
        }
        over = {
            sku
            for sku, n in units.items()
            if (limit := LIMITS[sku]) is not None and usage[sku] + n > limit
        }
        refused: LimitExceeded | None = None
        try:
            taken = run(self.engine.take(DROP, buyer, units))
        except LimitExceeded as exc:
            refused, taken = exc, False
        if refused is not None:  # only for a real excess, and nothing changed
            assert refused.extra["sku_id"] in over
            assert run(self.engine.counts(DROP)) == before
            return
        if taken:  # a late payment never takes its buyer past a limit either
            assert not over, (buyer, units, usage)
            for sku, n in units.items():
                self.sold[sku] += n
                self.sold_by_buyer[(buyer, sku)] = self.sold_by_buyer.get((buyer, sku), 0) + n

    @rule(seconds=st.floats(0, 150, allow_nan=False))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule(limit=st.integers(1, 5))
    def expire(self, limit: int) -> None:
        expired = run(self.engine.expire_due(self.now, limit))
        assert len(expired) <= limit
        for hold in expired:
            assert hold.status == HoldStatus.EXPIRED
            assert hold.expires_at <= self.now

    @invariant()
    def units_are_conserved(self) -> None:
        counts = run(self.engine.counts(DROP))
        live = [h for h in self._holds() if h.status in (HoldStatus.ACTIVE, HoldStatus.PAYING)]
        for sku, offered in OFFERED.items():
            c = counts[sku]
            assert c.remaining >= 0
            assert c.held >= 0
            assert c.held == sum(h.units.get(sku, 0) for h in live)
            assert c.remaining + c.held + self.sold[sku] == offered

    @invariant()
    def one_terminal_event_per_hold(self) -> None:
        # The journal holds exactly one terminal event per finished hold.
        events = run(self.engine.read_events(limit=1_000_000))
        finished = [e for e in events if e.type != "hold.placed" and e.type != "hold.paying"]
        assert len({e.hold.id for e in finished}) == len(finished)

    def _holds(self) -> list[Any]:
        out = []
        for hold_id in self.hold_ids:
            hold = run(self.engine.get_hold(hold_id))
            assert hold is not None
            out.append(hold)
        return out


EngineMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestMemoryEngineProperties = EngineMachine.TestCase

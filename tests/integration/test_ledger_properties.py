"""Hypothesis drives holds, releases, expiries, payments (approved, declined, 3-D
Secure) and restarts through the real services on SQLite, and checks after every step:

    sold (ledger) + held (engine) + remaining (engine) == offered, nothing negative,

plus: order units equal the ledger's sold count and the bucket levels equal the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.domain.errors import DroplineError
from dropline.services.platform.background import expire_holds
from dropline.services.ports import ManualClock
from dropline.store.db import upgrade
from support import seed_shop, sku_item

_TEMPLATE: list[Path] = []


def _template() -> Path:
    if not _TEMPLATE:
        path = Path(tempfile.mkdtemp()) / "template.db"
        upgrade(f"sqlite+aiosqlite:///{path}")
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


CARDS = ["4242424242424242", "4000000000000002", "4000000000003220"]
BUYERS = ["ann", "bob", "cat", "dan"]


class DropMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp())
        shutil.copy(_template(), self.dir / "db.sqlite")
        self.settings = Settings(
            database_url=f"sqlite+aiosqlite:///{self.dir / 'db.sqlite'}",
            background_tasks=False, paying_cap_s=120,
        )  # fmt: skip
        self.clock = ManualClock(1_800_000_000.0)
        self.c: Container = self.run(build(self.settings, clock=self.clock))
        self.holds: list[str] = []
        self.pending_3ds: list[tuple[str, str]] = []

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @initialize(units=st.integers(1, 6), limit=st.none() | st.integers(1, 3))
    def setup(self, units: int, limit: int | None) -> None:
        shop = self.run(seed_shop(self.c, units=units, skus=2, limit=limit, ttl=30))
        self.drop_id, self.skus, self.offered = shop.drop_id, shop.skus, units

    @rule(buyer=st.sampled_from(BUYERS), which=st.integers(0, 1), qty=st.integers(1, 3),
          both=st.booleans())  # fmt: skip
    def place(self, buyer: str, which: int, qty: int, both: bool) -> None:
        items = [sku_item(self.skus[which], qty)]
        if both:
            items.append(sku_item(self.skus[1 - which], 1))
        try:
            hold = self.run(self.c.holds.place(self.drop_id, buyer, items))
        except DroplineError:
            return
        self.holds.append(hold.id)

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        hold_id = data.draw(st.sampled_from(self.holds))
        hold = self.run(self.c.engine.get_hold(hold_id))
        with contextlib.suppress(DroplineError):
            self.run(self.c.holds.release(hold_id, hold.buyer_id if hold else None))

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), card=st.sampled_from(CARDS))
    def pay(self, data: st.DataObject, card: str) -> None:
        hold_id = data.draw(st.sampled_from(self.holds))
        hold = self.run(self.c.engine.get_hold(hold_id))
        if hold is None:
            return
        try:
            result = self.run(self.c.checkout.start(hold_id, hold.buyer_id, card))
        except DroplineError:
            return
        if result.next_action:
            self.pending_3ds.append((result.checkout.id, hold.buyer_id))

    @precondition(lambda self: self.pending_3ds)
    @rule()
    def confirm(self) -> None:
        checkout_id, buyer = self.pending_3ds.pop(0)
        with contextlib.suppress(DroplineError):
            self.run(self.c.checkout.confirm(checkout_id, buyer))

    @rule(seconds=st.sampled_from([5, 31, 130]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.run(expire_holds(self.c.engine, self.clock))

    @rule()
    def restart(self) -> None:
        """The process dies: the in-memory engine and its holds are gone."""
        self.run(self.c.close())
        self.c = self.run(build(self.settings, clock=self.clock))
        self.run(self.c.drops.sync_engine())

    @invariant()
    def conserved(self) -> None:
        if not hasattr(self, "drop_id"):
            return
        counts = self.run(self.c.engine.counts(self.drop_id))
        _, offers, _ = self.run(self.c.drops.get(self.drop_id))
        for sku in self.skus:
            sold, cnt = offers[sku].sold, counts[sku]
            assert min(sold, cnt.held, cnt.remaining) >= 0
            assert sold + cnt.held + cnt.remaining == self.offered, (sold, cnt)

    @invariant()
    def ledger_agrees(self) -> None:
        if not hasattr(self, "drop_id"):
            return

        async def check() -> None:
            async with self.c.uow(readonly=True) as uow:
                offers = await uow.drops.offers(self.drop_id)
                levels = await uow.stock.levels(self.skus)
                moves = await uow.stock.movements(limit=10_000)
            for sku in self.skus:
                sold_moves = sum(m.quantity for _, _, m in moves
                                 if m.sku_id == sku and m.reason == "sale")  # fmt: skip
                assert sold_moves == offers[sku].sold == levels[sku].committed
            assert all(ch.consistent for ch in await self.c.stock.verify())

        self.run(check())

    def teardown(self) -> None:
        self.run(self.c.close())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)


DropMachine.TestCase.settings = settings(
    max_examples=20, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
TestDropMachine = DropMachine.TestCase

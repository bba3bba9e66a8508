"""A model-based test of a drop's whole lifecycle, on both backend profiles.

Hypothesis drives the real services (``dropline.bootstrap.build``) through random
lifecycles: holds (in-stock SKUs, a bundle, a pre-order, mixed carts), checkouts
(approved, declined, 3-D Secure), releases and expiries on a ``ManualClock``, lots of
the production run received, inspected, signed off (allocated to waiting pre-orders
first come first served) or rejected and disposed of, hand-off, shipping, delivery,
cancellations (in-stock orders and pre-orders), returns received and refunded, pausing
and ending the drop, process restarts and Redis losing its data. The model
(``tests/lifecycle_model.py``) follows only what the test asked and what the services
answered. After every step:

- replaying the ledger gives the stored bucket levels (and ``stock.verify`` agrees);
- every bucket of every SKU is what the model's orders, lots and returns imply:
  nothing stranded in ``committed``, ``reserved`` or ``quality_control``;
- orders, pre-orders and lots are in the state the model expects;
- the engine agrees with the ledger: ``remaining + held + sold == offered``;
- every check of the post-stream report balances, while the drop is live and after;
- money: per order the provider's captured − refunded equals the order's net, no
  refund exceeds its charge, and every payment without an order nets to zero;
- no buyer holds more than a per-buyer limit allows (orders paid after their hold was
  gone included), and a hold or a late payment refused for the limit really was over it.

Each step runs to the end of the background work it started (``LifecycleMachine.run``),
so no step's leftovers run inside the next one.

Known bugs that other branches of issue 17 are fixing are switched off by the
``KNOWN_BUG_*`` flags below (each names what it skips). Turn a flag off once its fix
has landed. ``DROPLINE_MODEL_EXAMPLES`` and ``DROPLINE_MODEL_STEPS`` run it long, e.g.
``DROPLINE_MODEL_EXAMPLES=2000 pytest tests/integration/test_lifecycle_model.py -k sqlite``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from backends import PG_URL, REDIS_URL, truncate_pg
from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.domain.aftersales.returns import (
    DEFAULT_DISPOSITION,
    DISPOSITION_BUCKET,
    Disposition,
    ReturnLineRequest,
    ReturnReason,
    refund_for,
)
from dropline.domain.errors import (
    Conflict,
    DropNotLive,
    HoldError,
    InspectionDiscontinued,
    InsufficientStock,
    InvalidTransition,
    LimitExceeded,
    NotFound,
    PaymentDeclined,
    PreorderClosed,
    ReturnNotAllowed,
    SoldOut,
)
from dropline.domain.fulfilment.rules import FulfilmentUpdate
from dropline.domain.live.drops import DropStatus
from dropline.domain.live.holds import HoldStatus
from dropline.domain.stock.buckets import Bucket, replay
from dropline.services.fulfilment.shipping import UpdateDetails
from dropline.services.live.hold_journal import drain_hold_events
from dropline.services.live.order_writes import CheckoutResult
from dropline.services.platform.background import expire_holds
from dropline.services.ports import DropNotLoaded, ManualClock, PaymentStatus
from dropline.store.live.order_records import OrderRecord
from dropline.store.live.payment_tables import sandbox_payments
from fulfilment_support import SHIP_TO
from lifecycle_model import DAY, PRICES, Model, ModelLot, ModelOrder, World, seed_world

# --------------------------------------------------------------------------- known bugs
# Each flag skips the rule (or the part of an invariant) that hits a bug another branch
# of issue 17 is fixing; set it to False once that fix is merged.

#: 17 A. Cancelling a pre-order strands stock: lot units already allocated to it stay in
#: ``committed``; in-stock lines of a mixed order go back to ``reserved`` after the drop
#: ended; bundle lines are skipped; two lines of one SKU overwrite each other. When True
#: only pre-orders without any of those are cancelled.
KNOWN_BUG_PREORDER_CANCEL_STRANDS = False
#: 17 A. A pre-order fully allocated but not shipped cannot be cancelled (409 on both
#: routes). When True the model expects that refusal instead of a cancellation.
KNOWN_BUG_READY_PREORDER_UNCANCELLABLE = False
#: 17 B. The report cannot see pre-orders: its units checks are unbalanced for the
#: pre-order SKU (and in total), and ``captured`` includes payments only authorised.
#: When True those checks are skipped.
KNOWN_BUG_REPORT_BLIND_TO_PREORDERS = False
#: 17 C. The QC gate ignores measurements: a lot out of tolerance passes. When True no
#: out-of-tolerance inspection is made.
KNOWN_BUG_QC_IGNORES_MEASUREMENTS = False
#: 17 C. A cancelled order keeps counting against its buyer's limit (in the live engine
#: and after a rebuild). When True a refusal for the limit is not checked against the
#: model.
KNOWN_BUG_CANCELLED_ORDERS_COUNT_AGAINST_LIMITS = False
#: 17 C. Raising a live drop's per-buyer limit never reaches the engine. When True the
#: limit is never changed.
KNOWN_BUG_LIVE_LIMIT_CHANGE_IGNORED = False
#: 17 D. Two finishers of one payment racing (the buyer's 3-D Secure confirm and the
#: provider's webhook). When True they are never raced.
KNOWN_BUG_FINISHER_RACE = False

# Found by this test, outside those areas:

#: A lot of one unit is received into ``quality_control`` but can never be inspected
#: (the sampling tables start at two units: ``InvalidInput``), so its unit can never
#: pass the gate. When True such lots are not inspected (their unit stays in QC).
KNOWN_BUG_ONE_UNIT_LOT_CANNOT_BE_INSPECTED = False

EXAMPLES = int(os.environ.get("DROPLINE_MODEL_EXAMPLES", "10"))
STEPS = int(os.environ.get("DROPLINE_MODEL_STEPS", "50"))

BUYERS = ("ann", "bob")
CARDS = {"approve": "4242424242424242", "decline": "4000000000000002", "3ds": "4000000000003220"}
TTL_S = 30
# Hypothesis likes to repeat a cheap rule many times over; these rules wait this many
# steps between two runs, so a lifecycle does more than wait and restart.
REST = {
    "wait": 2,
    "wait_days": 5,
    "restart": 4,
    "lose_redis_data": 4,
    "pause_or_resume": 3,
    "raise_limit": 5,
}
END_AFTER = 8  # steps before the drop may end (or most lifecycles would end early)
PAYING_CAP_S = 120
INSPECTABLE = ("quality_control", "rework")
IN_TOLERANCE, OUT_OF_TOLERANCE = "52.4", "54.0"  # the spec: chest width 52.0 ± 1.0 cm
CART = st.lists(
    st.tuples(st.sampled_from(["A", "B", "AB", "P"]), st.integers(1, 2)), min_size=1, max_size=3
)
_TEMPLATE: list[Path] = []


@dataclass
class ModelHold:
    buyer: str
    cart: list[tuple[str, int]]
    units: dict[str, int]


@dataclass
class ModelReturn:
    order_id: str
    lines: list[tuple[int, int, str]]  # (line_no, quantity, reason)
    amount: int
    status: str = "requested"


SETTLE_S = 30


async def _settle() -> None:
    """Wait until no task but the Redis batcher (which lives as long as the engine) is
    left on the loop: background work a step started (a drop catalog revalidation, a
    single-flight load) and whatever that work started in turn. Still running after
    ``SETTLE_S`` is a hang, reported as one rather than left to leak into the next step
    (where it would hold a transaction open and make the run flaky)."""
    me = asyncio.current_task()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_S
    while True:
        started = [
            t
            for t in asyncio.all_tasks()
            if t is not me and not t.done() and t.get_name() != "dropline-redis-batcher"
        ]
        if not started:
            return
        left = deadline - loop.time()
        assert left > 0, f"background work still running {SETTLE_S} s after a step: {started}"
        await asyncio.wait(started, timeout=left)


def _sqlite_template() -> Path:
    if not _TEMPLATE:
        from dropline.store.db import upgrade

        path = Path(tempfile.mkdtemp()) / "template.db"
        upgrade(f"sqlite+aiosqlite:///{path}")
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


class LifecycleMachine(RuleBasedStateMachine):
    """One drop's lifecycle; ``backend`` is ``sqlite`` (in-process engine) or
    ``postgres`` (Redis engine)."""

    backend: ClassVar[str] = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp())
        self.clock = ManualClock(1_800_000_000.0)
        if self.backend == "sqlite":
            shutil.copy(_sqlite_template(), self.dir / "db.sqlite")
            url, engine_url = f"sqlite+aiosqlite:///{self.dir / 'db.sqlite'}", "memory"
        else:
            self.run(truncate_pg())
            self.run(self._flush_redis())
            url, engine_url = PG_URL, REDIS_URL
        self.settings = Settings(
            database_url=url,
            engine_url=engine_url,
            background_tasks=False,
            paying_cap_s=PAYING_CAP_S,
            sold_out_window_s=0,
        )
        self.c: Container = self.run(build(self.settings, clock=self.clock))
        self.holds: dict[str, ModelHold] = {}
        self.pending_3ds: dict[str, str] = {}  # checkout id -> hold id
        self.inspections: dict[str, tuple[str, bool]] = {}  # id -> (lot id, accepted)
        self.returns: dict[str, ModelReturn] = {}
        self.shipped_at: dict[str, float] = {}
        self.paused = False
        self.steps = 0
        self.last_run: dict[str, int] = {}

    def run(self, coro: Any) -> Any:
        """One call on the machine's event loop; then the background work it started
        (a drop catalog revalidation) finishes, as it would on a server's loop, rather
        than stay suspended holding a database transaction open. Also when the call
        raised: many rules expect a refusal (``SoldOut``, ``LimitExceeded`` ...) and
        carry on, and the work started before it must not leak into the next step."""
        try:
            return self.loop.run_until_complete(coro)
        finally:
            self.loop.run_until_complete(_settle())

    async def _flush_redis(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        await client.flushdb()
        await client.aclose()

    @property
    def w(self) -> World:
        return self.m.world

    def teardown(self) -> None:
        self.run(self.c.close())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------------ set-up
    @initialize(
        offered_a=st.integers(1, 5),
        offered_b=st.integers(1, 5),
        extra=st.integers(0, 2),
        cap=st.integers(1, 6),
        limit=st.sampled_from([1, 2, 3, None]),
        payment_mode=st.sampled_from(["charge_now", "authorize"]),
    )
    def seed(
        self,
        offered_a: int,
        offered_b: int,
        extra: int,
        cap: int,
        limit: int | None,
        payment_mode: str,
    ) -> None:
        world = self.run(
            seed_world(
                self.c,
                offered_a=offered_a,
                offered_b=offered_b,
                extra=extra,
                cap=cap,
                limit=limit,
                payment_mode=payment_mode,
                ttl=TTL_S,
            )
        )
        self.m = Model(world)

    # ------------------------------------------------------------------ helpers
    def _live_units(self, buyer: str) -> dict[str, int]:
        """Units in the buyer's holds the engine still counts (active or paying)."""
        out: dict[str, int] = {}
        for hold_id, h in self.holds.items():
            if h.buyer != buyer:
                continue
            hold = self.run(self.c.engine.get_hold(hold_id))
            if hold is not None and hold.status in (HoldStatus.ACTIVE, HoldStatus.PAYING):
                for s, q in h.units.items():
                    out[s] = out.get(s, 0) + q
        return out

    def _record_order(self, order: OrderRecord, hold_id: str) -> None:
        h = self.holds[hold_id]
        total = sum(PRICES[name] * qty for name, qty in h.cart)
        assert order.id not in self.m.orders, "one payment made two orders"
        assert (order.buyer_id, order.total_amount) == (h.buyer, total)
        assert [(ln.line_no, ln.quantity) for ln in order.lines] == [
            (n, q) for n, (_, q) in enumerate(h.cart, 1)
        ]
        pre = {s: q for s, q in h.units.items() if s == self.w.sku["P"]}
        self.m.orders[order.id] = ModelOrder(
            order.id, h.buyer, h.cart, h.units, pre, total, order.paid_at.timestamp()
        )

    def _finished(self, result: CheckoutResult, hold_id: str) -> None:
        if result.next_action:
            self.pending_3ds[result.checkout.id] = hold_id
        else:
            assert result.order is not None
            self._record_order(result.order, hold_id)

    def _tick(self) -> None:
        """A second passes before each payment: orders are paid at distinct times, so
        the first-paid-first-served order never depends on their random ids (which
        would make a replayed example behave differently)."""
        self.clock.advance(1)

    def _hold_gone(self, hold_id: str) -> bool:
        """The hold no longer owns its units (expired, released, ended, lost): a payment
        finishing now takes its units afresh."""
        hold = self.run(self.c.engine.get_hold(hold_id))
        return (
            hold is None
            or hold.status not in (HoldStatus.ACTIVE, HoldStatus.PAYING)
            or hold.expires_at <= self.clock.now()
        )

    def _assert_over_limit(self, hold_id: str, late: bool) -> None:
        """A payment refused for the per-buyer limit (and voided) really was late and
        over it: what the buyer bought and holds now, plus this hold's units."""
        assert late, "a payment refused for the limit while its hold was still live"
        h = self.holds[hold_id]
        live = self._live_units(h.buyer)
        over = [
            s
            for s, q in h.units.items()
            if (limit := self.w.limits[s]) is not None
            and self.m.bought(h.buyer, s) + live.get(s, 0) + q > limit
        ]
        assert over, f"a late payment refused for the limit, but {h.buyer} is within it"

    def _rested(self, rule: str) -> bool:
        """True when ``rule`` did not run in the last ``REST[rule]`` steps."""
        return self.steps - self.last_run.get(rule, -REST[rule]) >= REST[rule]

    def _orders(self, pred: Any) -> list[str]:
        return [o.id for o in self.m.orders.values() if pred(o)]

    def _pick(self, data: st.DataObject, ids: list[str], label: str) -> str:
        """One of ``ids`` (in the order they were made) by its index, so a printed
        example reads \"order 0\" rather than a random id."""
        return ids[data.draw(st.integers(0, len(ids) - 1), label=label)]

    async def _background(self) -> None:
        """What the server's background jobs do between requests."""
        await expire_holds(self.c.engine, self.clock)
        await drain_hold_events(self.c.engine, self.c.uow)

    # ------------------------------------------------------------------ live sales
    @rule(
        buyer=st.sampled_from(BUYERS),
        cart=CART,
        pay=st.sampled_from([None, "approve", "approve", "decline", "3ds"]),
    )
    def place_hold(self, buyer: str, cart: list[tuple[str, int]], pay: str | None) -> None:
        """A buyer taps: a hold on the cart, paid at once with ``pay`` (or left to
        ``checkout``, ``release_hold`` or its expiry)."""
        units = self.w.units(cart)
        items = [self.w.item(name, qty) for name, qty in cart]
        try:
            hold = self.run(self.c.holds.place(self.w.drop_id, buyer, items))
        except LimitExceeded:
            if not KNOWN_BUG_CANCELLED_ORDERS_COUNT_AGAINST_LIMITS:
                live = self._live_units(buyer)
                over = [
                    s
                    for s, q in units.items()
                    if (limit := self.w.limits[s]) is not None
                    and self.m.bought(buyer, s) + live.get(s, 0) + q > limit
                ]
                assert over, f"refused for the limit, but {buyer} is within every limit"
            return
        except (SoldOut, InsufficientStock):
            return  # the engine's counters are checked against the ledger after each step
        except DropNotLive:
            assert self.m.ended or self.paused
            return
        except PreorderClosed:
            assert self.w.sku["P"] in units and self.clock.now() >= self.w.preorder_closes_at
            return
        assert not self.m.ended and not self.paused, "a hold on a drop that is not on sale"
        assert hold.units == units
        self.holds[hold.id] = ModelHold(buyer, cart, units)
        if pay is not None:
            self._pay(hold.id, pay)

    def _pay(self, hold_id: str, card: str) -> None:
        h = self.holds[hold_id]
        self._tick()
        try:
            result = self.run(self.c.checkout.start(hold_id, h.buyer, CARDS[card], SHIP_TO))
        except PaymentDeclined:
            assert card == "decline"
            return
        except (SoldOut, NotFound, HoldError, Conflict):
            return  # expired, lost in a restart, ended, already paid or being paid
        assert card != "decline"
        self._finished(result, hold_id)

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), card=st.sampled_from(sorted(CARDS)))
    def checkout(self, data: st.DataObject, card: str) -> None:
        """A buyer pays for one of the holds made earlier (maybe expired or paid)."""
        self._pay(self._pick(data, list(self.holds), "hold"), card)

    @precondition(lambda self: self.pending_3ds)
    @rule(data=st.data())
    def confirm_3ds(self, data: st.DataObject) -> None:
        checkout_id = self._pick(data, list(self.pending_3ds), "3-D Secure checkout")
        hold_id = self.pending_3ds.pop(checkout_id)
        self._tick()
        late = self._hold_gone(hold_id)
        try:
            result = self.run(self.c.checkout.confirm(checkout_id, self.holds[hold_id].buyer))
        except (SoldOut, Conflict):
            return  # no unit left (nothing charged), or abandoned by recovery
        except LimitExceeded:
            self._assert_over_limit(hold_id, late)
            return
        self._finished(result, hold_id)

    @precondition(lambda self: self.pending_3ds and not KNOWN_BUG_FINISHER_RACE)
    @rule(data=st.data(), expire_first=st.booleans())
    def race_finishers(self, data: st.DataObject, expire_first: bool) -> None:
        """The buyer's 3-D Secure confirm and the provider's webhook finish one payment
        at the same moment (the hold may have expired meanwhile)."""
        checkout_id = self._pick(data, list(self.pending_3ds), "3-D Secure checkout")
        hold_id = self.pending_3ds.pop(checkout_id)
        buyer = self.holds[hold_id].buyer
        if expire_first:
            self.clock.advance(PAYING_CAP_S + 1)
            self.run(expire_holds(self.c.engine, self.clock))
        self._tick()
        checkout = self.run(self.c.checkout.get(checkout_id))
        if checkout.payment_id is None or checkout.status != "requires_action":
            return
        paid = self.run(
            self.c.provider.confirm(checkout.payment_id, idempotency_key=f"{checkout_id}:confirm")
        )
        late = self._hold_gone(hold_id)

        async def both() -> list[Any]:
            return list(
                await asyncio.gather(
                    self.c.checkout.confirm(checkout_id, buyer),
                    self.c.checkout.complete_from_provider(checkout_id, paid),
                    return_exceptions=True,
                )
            )

        results = self.run(both())
        errors = [r for r in results if isinstance(r, BaseException)]
        assert all(isinstance(e, (SoldOut, LimitExceeded)) for e in errors), errors
        orders = {r.order.id: r.order for r in results if isinstance(r, CheckoutResult) and r.order}
        assert len(orders) <= 1, "one payment made two orders"
        if orders:
            assert not errors, f"a finisher failed for a payment that succeeded: {errors}"
            self._record_order(next(iter(orders.values())), hold_id)
        elif any(isinstance(e, LimitExceeded) for e in errors):
            self._assert_over_limit(hold_id, late)

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def release_hold(self, data: st.DataObject) -> None:
        hold_id = self._pick(data, list(self.holds), "hold")
        with contextlib.suppress(NotFound, HoldError):
            self.run(self.c.holds.release(hold_id, self.holds[hold_id].buyer))

    @precondition(lambda self: self._rested("wait"))
    @rule(seconds=st.sampled_from([5, TTL_S + 1, PAYING_CAP_S + 10]))
    def wait(self, seconds: int) -> None:
        self.last_run["wait"] = self.steps
        self.clock.advance(seconds)
        self.run(self._background())

    @precondition(lambda self: self._rested("wait_days"))
    @rule(days=st.integers(1, 3))
    def wait_days(self, days: int) -> None:
        """Days pass with every background job running: abandoned 3-D Secure payments
        are voided, authorisations about to lapse captured, pre-orders whose promised
        date passed cancelled and refunded, refunds finished."""
        self.last_run["wait_days"] = self.steps
        self.clock.advance(days * DAY)
        self.run(self._background())
        self.run(self.c.checkout.recover())
        self.run(self.c.preorder_lifecycle.capture_expiring())
        for order_id in self.run(self.c.preorder_lifecycle.process_deadlines()):
            # The mail-order rule: a pre-order still waiting for its units when its
            # promised ship-by date passed (no delay was announced) is cancelled and
            # refunded in full.
            o = self.m.orders[order_id]
            assert o.waiting, f"{order_id} cancelled by the deadline sweep, not waiting"
            p = self.run(self.c.preorders.get(order_id))
            assert p.promised_ship_by is not None
            assert p.promised_ship_by.timestamp() <= self.clock.now(), "a promise not due"
            assert p.status == "cancelled" and p.refunded_at is not None
            o.status, o.refunded, o.cancelled = "refunded", o.total, True
        assert self.run(self.c.cancellations.finish_refunds()) == []
        assert self.run(self.c.returns.finish_refunds()) == []

    @precondition(lambda self: not self.m.ended and self._rested("pause_or_resume"))
    @rule(pause=st.booleans())
    def pause_or_resume(self, pause: bool) -> None:
        self.last_run["pause_or_resume"] = self.steps
        if pause == self.paused:
            return
        self.run(
            self.c.drops.transition(self.w.drop_id, DropStatus.PAUSED if pause else DropStatus.LIVE)
        )
        self.paused = pause

    @precondition(lambda self: not self.m.ended and self.steps >= END_AFTER)
    @rule()
    def end_drop(self) -> None:
        self.run(self.c.drops.transition(self.w.drop_id, DropStatus.ENDED))
        self.m.ended = True

    @precondition(
        lambda self: (
            not self.m.ended
            and not KNOWN_BUG_LIVE_LIMIT_CHANGE_IGNORED
            and self.w.limits[self.w.sku["A"]] is not None
        )
    )
    @rule()
    def raise_limit(self) -> None:
        self.last_run["raise_limit"] = self.steps
        sku_a = self.w.sku["A"]
        limit = self.w.limits[sku_a]
        assert limit is not None
        self.run(
            self.c.drops.set_offer(
                self.w.drop_id, sku_a, self.w.offered[sku_a], per_buyer_limit=limit + 1
            )
        )
        self.w.limits[sku_a] = limit + 1

    @precondition(lambda self: self._rested("restart"))
    @rule(sync=st.booleans())
    def restart(self, sync: bool) -> None:
        """The process stops and starts again: the in-process engine (its holds and
        undrained journal) is gone; a Redis engine keeps its state. The drop is loaded
        at start-up (``sync``) or by the first call that needs it."""
        self.last_run["restart"] = self.steps
        self.run(self.c.close())
        self.c = self.run(build(self.settings, clock=self.clock))
        if sync:
            self.run(self.c.drops.sync_engine())

    @precondition(lambda self: self.backend == "postgres" and self._rested("lose_redis_data"))
    @rule()
    def lose_redis_data(self) -> None:
        """Redis loses everything (FLUSHDB, a failover to an empty replica)."""
        self.last_run["lose_redis_data"] = self.steps
        self.run(self._flush_redis())

    # ------------------------------------------------------------------ supply and QC
    @rule(name=st.sampled_from(["P", "P", "A"]), qty=st.integers(1, 6))
    def receive_lot(self, name: str, qty: int) -> None:
        sku_id = self.w.sku[name]
        lot = self.run(self.c.production.receive(self.w.run_id, sku_id, qty, "B-1", actor="wh"))
        self.m.lots[lot["id"]] = ModelLot(lot["id"], sku_id, qty)

    @precondition(lambda self: any(lot.status in INSPECTABLE for lot in self.m.lots.values()))
    @rule(
        data=st.data(),
        outcome=st.sampled_from(["pass", "defect", "out_of_tolerance"]),
        sign_now=st.booleans(),
    )
    def inspect_lot(self, data: st.DataObject, outcome: str, sign_now: bool) -> None:
        """An inspector records a final inspection of a lot; the approver signs it off
        now (``sign_now``) or later (``sign_off``)."""
        if outcome == "out_of_tolerance" and KNOWN_BUG_QC_IGNORES_MEASUREMENTS:
            return
        lots = [
            k
            for k, v in self.m.lots.items()
            if v.status in INSPECTABLE
            and not (KNOWN_BUG_ONE_UNIT_LOT_CANNOT_BE_INSPECTED and v.quantity == 1)
        ]
        if not lots:
            return
        lot_id = self._pick(data, lots, "lot")
        value = OUT_OF_TOLERANCE if outcome == "out_of_tolerance" else IN_TOLERANCE
        try:
            ins = self.run(
                self.c.qc.inspect(
                    lot_id,
                    "final_random",
                    {"critical": 1} if outcome == "defect" else {},
                    inspector="ivy",
                    measurements=[{"name": "chest width", "value": value}],
                )
            )
        except InspectionDiscontinued:
            self.run(self.c.qc.resume(self.w.manufacturer_id, self.w.product_id, actor="lee"))
            return
        assert ins["accepted"] is (outcome == "pass"), (outcome, ins)
        self.inspections[ins["id"]] = (lot_id, ins["accepted"])
        if sign_now:
            self._sign_off(ins["id"])

    @precondition(lambda self: self.inspections)
    @rule(data=st.data())
    def sign_off(self, data: st.DataObject) -> None:
        self._sign_off(self._pick(data, list(self.inspections), "inspection"))

    def _sign_off(self, ins_id: str) -> None:
        lot_id, accepted = self.inspections.pop(ins_id)
        lot = self.m.lots[lot_id]
        try:
            signed = self.run(self.c.qc.sign_off(ins_id, approver="Dana"))
        except Conflict as exc:
            # Refused: the lot was decided by another inspection, or this one's plan is
            # no longer the severity in force (other lots' sign-offs moved the
            # switching rules meanwhile): the lot stays to be inspected again.
            stale = "severity_in_force" in exc.extra
            assert stale or lot.status not in INSPECTABLE, "a signed-off inspection was refused"
            return
        assert lot.status in INSPECTABLE, "a lot was decided twice"
        if not accepted:
            assert signed["allocation"] is None
            lot.status = "rejected"
            return
        expected = self.m.fifo_allocation(lot.sku_id, lot.quantity)
        assert signed["allocation"] == expected, "allocation is not first paid, first served"
        for order_id, qty in expected.items():
            if order_id != "available":
                o = self.m.orders[order_id]
                o.allocated[lot.sku_id] = o.allocated.get(lot.sku_id, 0) + qty
        lot.status = "passed"

    @precondition(lambda self: any(lot.status == "rejected" for lot in self.m.lots.values()))
    @rule(data=st.data(), disposition=st.sampled_from(["rework", "return", "scrap"]))
    def dispose_lot(self, data: st.DataObject, disposition: str) -> None:
        lot_id = self._pick(
            data, [k for k, v in self.m.lots.items() if v.status == "rejected"], "lot"
        )
        got = self.run(self.c.qc.dispose(lot_id, disposition, actor="lee", note="failed AQL"))
        status = {"rework": "rework", "return": "returned", "scrap": "scrapped"}[disposition]
        assert got["status"] == status
        self.m.lots[lot_id].status = status

    # ------------------------------------------------------------------ fulfilment
    @precondition(lambda self: self._orders(lambda o: o.status == "paid" and o.ready))
    @rule(data=st.data())
    def hand_off(self, data: st.DataObject) -> None:
        order_id = self._pick(data, self._orders(lambda o: o.status == "paid" and o.ready), "order")

        async def go() -> bool:
            async with self.c.uow() as uow:
                moved = await self.c.fulfilment.mark_handed_off(uow, order_id, "wms")
                await uow.commit()
            return moved

        assert self.run(go())
        self.m.orders[order_id].status = "handed_off"

    @precondition(
        lambda self: self._orders(lambda o: o.status in ("paid", "handed_off") and o.ready)
    )
    @rule(
        data=st.data(),
        path=st.sampled_from(["warehouse", "preorder_then_warehouse", "warehouse_then_preorder"]),
    )
    def ship(self, data: st.DataObject, path: str) -> None:
        """The warehouse ships an order whose units are all in the building (its
        tracking update). A pre-order may also be marked shipped by ops in its own flow
        (``preorder_lifecycle.ship``) before; by the warehouse alone, it must end
        shipped and captured all the same, and marking it shipped after is refused
        (it shipped once: nothing moves twice)."""
        order_id = self._pick(
            data, self._orders(lambda o: o.status in ("paid", "handed_off") and o.ready), "order"
        )
        o = self.m.orders[order_id]
        if not o.is_preorder:
            path = "warehouse"
        if path == "preorder_then_warehouse":
            assert self.run(self.c.preorder_lifecycle.ship(order_id)).status == "shipped"
        result = self.run(
            self.c.fulfilment.apply_update(
                "wms",
                f"ship-{order_id}",
                FulfilmentUpdate.SHIPPED,
                order_id,
                UpdateDetails("UPS", f"1Z{order_id[-8:]}"),
            )
        )
        assert (result.applied, result.status) == (True, "shipped")
        if path == "warehouse_then_preorder":
            with pytest.raises(Conflict):
                self.run(self.c.preorder_lifecycle.ship(order_id))
        o.status, o.shipped = "shipped", True
        self.shipped_at[order_id] = self.clock.now()

    @precondition(lambda self: self._orders(lambda o: o.status == "shipped"))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        order_id = self._pick(data, self._orders(lambda o: o.status == "shipped"), "order")
        self.run(
            self.c.fulfilment.apply_update(
                "carrier",
                f"delivered-{order_id}",
                FulfilmentUpdate.DELIVERED,
                order_id,
                UpdateDetails("UPS", "1Z"),
            )
        )
        self.m.orders[order_id].status = "delivered"
        self.shipped_at[order_id] = self.clock.now()

    # ------------------------------------------------------------------ cancellations
    @precondition(lambda self: self.m.orders)
    @rule(data=st.data())
    def cancel_order(self, data: st.DataObject) -> None:
        """Ops cancel an order with a full refund: only an unshipped in-stock order; a
        pre-order is sent to its own flow, a shipped or closed one is refused."""
        order_id = self._pick(data, list(self.m.orders), "order")
        o = self.m.orders[order_id]
        try:
            done = self.run(self.c.cancellations.cancel(order_id, reason="buyer asked", by="ops"))
        except InvalidTransition:
            assert o.status not in ("paid", "handed_off") or o.cancelled
            return
        except Conflict:
            assert o.is_preorder
            return
        assert not o.is_preorder and not o.cancelled and o.status in ("paid", "handed_off")
        assert (done.status.value, done.refunded_amount) == ("refunded", o.total)
        o.status, o.refunded, o.cancelled = "refunded", o.total, True

    @precondition(lambda self: self._orders(lambda o: o.is_preorder))
    @rule(data=st.data())
    def cancel_preorder(self, data: st.DataObject) -> None:
        """The buyer cancels a pre-order (the signed link): refunded in full, its units
        back to the cap, its in-stock lines back on sale (or to available)."""
        order_id = self._pick(data, self._orders(lambda o: o.is_preorder), "order")
        o = self.m.orders[order_id]
        in_stock = [name for name, _ in o.lines if name != "P"]
        strands = any(o.allocated.values()) or (
            bool(in_stock)
            and (self.m.ended or "AB" in in_stock or len(in_stock) != len(set(in_stock)))
        )
        if KNOWN_BUG_PREORDER_CANCEL_STRANDS and strands and o.waiting:
            return
        cancellable = not o.cancelled and not o.shipped
        if KNOWN_BUG_READY_PREORDER_UNCANCELLABLE:
            cancellable = cancellable and o.waiting
        try:
            p = self.run(self.c.preorder_lifecycle.cancel(order_id, reason="changed", by="buyer"))
        except Conflict:
            assert not cancellable, "a cancellable pre-order was refused"
            return
        assert cancellable or o.cancelled
        assert p.status == "cancelled" and p.refunded_at is not None
        o.status, o.refunded, o.cancelled = "refunded", o.total, True

    # ------------------------------------------------------------------ returns
    @precondition(lambda self: self._orders(lambda o: o.status in ("shipped", "delivered")))
    @rule(data=st.data(), reason=st.sampled_from(list(ReturnReason)))
    def request_return(self, data: st.DataObject, reason: ReturnReason) -> None:
        order_id = self._pick(
            data, self._orders(lambda o: o.status in ("shipped", "delivered")), "order"
        )
        o = self.m.orders[order_id]
        wanted = []
        for no, (_, qty) in enumerate(o.lines, 1):
            left = qty - o.returned.get(no, 0)
            n = data.draw(st.integers(0, left), label=f"line {no}")
            if n:
                wanted.append(ReturnLineRequest(no, n, reason))
        if not wanted:
            return
        window_closed = self.clock.now() > self.shipped_at[order_id] + 30 * DAY
        try:
            r = self.run(self.c.returns.request(order_id, wanted, by="ops"))
        except ReturnNotAllowed:
            assert window_closed
            return
        assert not window_closed
        amount = sum(
            refund_for(
                PRICES[o.lines[w.line_no - 1][0]] * o.lines[w.line_no - 1][1],
                o.lines[w.line_no - 1][1],
                o.returned.get(w.line_no, 0),
                w.quantity,
            )
            for w in wanted
        )
        assert r.refund_amount == amount
        for w in wanted:
            o.returned[w.line_no] = o.returned.get(w.line_no, 0) + w.quantity
        self.returns[r.id] = ModelReturn(
            order_id, [(w.line_no, w.quantity, w.reason.value) for w in wanted], amount
        )

    def _requested(self) -> list[str]:
        return [k for k, r in self.returns.items() if r.status == "requested"]

    @precondition(lambda self: self._requested())
    @rule(data=st.data())
    def receive_return(self, data: st.DataObject) -> None:
        return_id = self._pick(data, self._requested(), "return")
        r = self.returns[return_id]
        o = self.m.orders[r.order_id]
        chosen: dict[int, Disposition] = {}
        for no, _, _ in r.lines:
            d = data.draw(st.none() | st.sampled_from(list(Disposition)), label=f"line {no}")
            if d is not None:
                chosen[no] = d
        got = self.run(self.c.returns.receive(return_id, chosen, by="wh"))
        assert (got.status, got.refund_error) == ("refunded", ""), got
        for no, qty, reason in r.lines:
            d = chosen.get(no, DEFAULT_DISPOSITION[ReturnReason(reason)])
            name = o.lines[no - 1][0]
            for part in ("A", "B") if name == "AB" else (name,):
                self.m.returned[(self.w.sku[part], DISPOSITION_BUCKET[d])] += qty
        r.status = "refunded"
        o.refunded += r.amount
        if o.refunded >= o.total:
            o.status = "refunded"

    @precondition(lambda self: self._requested())
    @rule(data=st.data())
    def cancel_return(self, data: st.DataObject) -> None:
        return_id = self._pick(data, self._requested(), "return")
        r = self.returns[return_id]
        assert self.run(self.c.returns.cancel(return_id, reason="never came")).status == (
            "cancelled"
        )
        o = self.m.orders[r.order_id]
        for no, qty, _ in r.lines:
            o.returned[no] -= qty
        r.status = "cancelled"

    @precondition(
        lambda self: any(
            self.m.returned[(s, Bucket.QUALITY_CONTROL)] > self.m.released_from_qc[s]
            for s in self.w.sku.values()
        )
    )
    @rule(data=st.data())
    def release_inspected_return(self, data: st.DataObject) -> None:
        """A returned unit looked at and found fine goes back to ``available`` by hand."""
        name = data.draw(
            st.sampled_from(
                [
                    n
                    for n, s in self.w.sku.items()
                    if self.m.returned[(s, Bucket.QUALITY_CONTROL)] > self.m.released_from_qc[s]
                ]
            )
        )
        sku_id = self.w.sku[name]
        self.run(
            self.c.stock.move(
                sku_id,
                1,
                Bucket.QUALITY_CONTROL,
                Bucket.AVAILABLE,
                actor="wh",
                note="returned unit inspected: fine",
            )
        )
        self.m.released_from_qc[sku_id] += 1

    # ------------------------------------------------------------------ invariants
    def _seeded(self) -> bool:
        return hasattr(self, "m")

    @invariant()
    def count_steps(self) -> None:
        self.steps += 1

    @invariant()
    def ledger_replays_to_stored_levels(self) -> None:
        if not self._seeded():
            return

        async def check() -> None:
            async with self.c.uow(readonly=True) as uow:
                stored = await uow.stock.levels(list(self.w.sku.values()))
                for sku_id in self.w.sku.values():
                    moves = await uow.stock.movements(sku_id=sku_id, limit=1_000_000)
                    replayed = replay(sku_id, (m for _, _, m in reversed(moves)))
                    assert replayed == stored[sku_id], (replayed, stored[sku_id])
            assert all(ch.consistent for ch in await self.c.stock.verify())

        self.run(check())

    @invariant()
    def buckets_are_what_orders_and_lots_imply(self) -> None:
        if not self._seeded():
            return
        levels = self.run(self.c.stock.levels())
        for sku_id, expected in self.m.expected_levels().items():
            level = levels.get(sku_id)
            got = {b: level.get(b) if level else 0 for b in Bucket}
            name = next(k for k, v in self.w.sku.items() if v == sku_id)
            assert got == expected, f"SKU {name}: stored {got}, the model implies {expected}"

    @invariant()
    def orders_and_lots_are_what_the_model_says(self) -> None:
        if not self._seeded():
            return

        async def check() -> None:
            async with self.c.uow(readonly=True) as uow:
                orders = await uow.orders.list_orders(drop_id=self.w.drop_id, limit=10_000)
                stored = {o.id: o for o in orders}
                assert set(stored) == set(self.m.orders), "orders the model does not know"
                for o in self.m.orders.values():
                    got = stored[o.id]
                    assert (got.status.value, got.refunded_amount) == (o.status, o.refunded), o
                    if o.is_preorder:
                        p = await uow.production.preorder(o.id)
                        assert p is not None
                        allocated = {s: a for s, (_, a) in p.lines.items() if a}
                        assert allocated == {s: a for s, a in o.allocated.items() if a}
                        status = (
                            "cancelled"
                            if o.cancelled
                            else "shipped"
                            if o.shipped
                            else "ready"
                            if o.ready
                            else "waiting"
                        )
                        assert p.status == status, (p.status, status)
                for lot in self.m.lots.values():
                    row = await uow.production.lot(lot.id)
                    assert row is not None and row["status"] == lot.status

        self.run(check())

    @invariant()
    def engine_agrees_with_ledger(self) -> None:
        if not self._seeded():
            return
        _, offers, _ = self.run(self.c.drops.get(self.w.drop_id))
        for sku_id, offered in self.w.offered.items():
            assert offers[sku_id].sold == self.m.sold(sku_id), sku_id
            assert offers[sku_id].offered == offered
        if self.m.ended:
            return
        try:
            counts = self.run(self.c.engine.counts(self.w.drop_id))
        except DropNotLoaded:
            return  # lost (restart, Redis flushed): rebuilt from the ledger on next use
        for sku_id, offered in self.w.offered.items():
            cnt = counts[sku_id]
            assert min(cnt.remaining, cnt.held) >= 0
            assert cnt.remaining + cnt.held + offers[sku_id].sold == offered, (sku_id, cnt)

    @invariant()
    def report_is_balanced(self) -> None:
        if not self._seeded():
            return
        report = self.run(self.c.reports.build(self.w.drop_id))
        skip: set[str] = set()
        if KNOWN_BUG_REPORT_BLIND_TO_PREORDERS:
            catalog = self.run(self.c.drops.cache.get(self.w.drop_id))
            skip = {catalog.skus[self.w.sku["P"]].label(), "all SKUs"}
        for check in report["reconciliation"]:
            if check["key"] == "units" and check["scope"] in skip:
                continue
            assert check["balanced"], check
        totals = report["totals"]
        assert totals["captured"] - totals["refunded"] == totals["net"]
        if not KNOWN_BUG_REPORT_BLIND_TO_PREORDERS:
            captured = self.run(self._provider_captured())
            assert totals["captured"] == captured, (totals, captured)

    async def _provider_captured(self) -> int:
        async with self.c.uow(readonly=True) as uow:
            rows = (await uow.conn.execute(select(sandbox_payments))).all()
        return sum(int(r.amount) for r in rows if r.status in ("captured", "refunded"))

    @invariant()
    def money_adds_up(self) -> None:
        if not self._seeded():
            return

        async def check() -> None:
            async with self.c.uow(readonly=True) as uow:
                orders = await uow.orders.list_orders(drop_id=self.w.drop_id, limit=10_000)
                payments = (await uow.conn.execute(select(sandbox_payments))).all()
            rows = {r.id: r for r in payments}
            for order in orders:
                p = rows[order.payment_id]
                o = self.m.orders[order.id]
                status = PaymentStatus(p.status)
                assert int(p.amount) == order.total_amount
                assert 0 <= int(p.refunded_amount) <= int(p.amount)
                assert 0 <= order.refunded_amount <= order.total_amount
                if status is PaymentStatus.AUTHORIZED:  # a pre-order paid at shipping
                    assert o.is_preorder and self.w.payment_mode == "authorize", order.id
                    assert order.refunded_amount == 0 and not o.shipped
                elif status is PaymentStatus.VOIDED:  # a cancelled pre-order's authorisation
                    assert o.is_preorder and order.refunded_amount == order.total_amount
                else:
                    assert status in (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED), status
                    net = int(p.amount) - int(p.refunded_amount)
                    assert net == order.total_amount - order.refunded_amount, order.id
            with_order = {o.payment_id for o in orders}
            for pid, p in rows.items():
                if pid in with_order:
                    continue
                status = PaymentStatus(p.status)
                # A payment without an order took nothing: declined, voided, refunded in
                # full, or still waiting for 3-D Secure.
                assert status in (
                    PaymentStatus.DECLINED,
                    PaymentStatus.VOIDED,
                    PaymentStatus.REFUNDED,
                    PaymentStatus.REQUIRES_ACTION,
                ), (pid, status)
                if status is PaymentStatus.REFUNDED:
                    assert int(p.refunded_amount) == int(p.amount)

        self.run(check())

    @invariant()
    def no_buyer_over_a_limit(self) -> None:
        """Orders paid late (their hold gone, units taken afresh) included."""
        if not self._seeded():
            return
        for buyer in BUYERS:
            for sku_id, limit in self.w.limits.items():
                if limit is not None:
                    bought = self.m.bought(buyer, sku_id)
                    assert bought <= limit, (buyer, sku_id, bought, limit)


SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class SqliteLifecycle(LifecycleMachine):
    backend = "sqlite"


class PostgresRedisLifecycle(LifecycleMachine):
    backend = "postgres"


def test_lifecycle_on_sqlite_with_the_in_process_engine() -> None:
    run_state_machine_as_test(SqliteLifecycle, settings=SETTINGS)


@pytest.mark.postgres
@pytest.mark.redis
def test_lifecycle_on_postgres_with_redis(postgres_url: str, redis_url: str) -> None:
    assert (postgres_url, redis_url) == (PG_URL, REDIS_URL)
    run_state_machine_as_test(PostgresRedisLifecycle, settings=SETTINGS)

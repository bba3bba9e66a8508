"""The dress rehearsal: the whole line, order to dispatch and back, on a copy of a drop
with a dummy SKU, through the configured real parts in test mode.

Stages, in order (``domain/readiness/rehearsal.py``): the copy and its stock; a burst
of simulated buyers, one more than there are units, placing holds at once; test
payments through the configured provider, with a decline and a 3-D Secure card;
the hand-off of every paid order to every warehouse endpoint (its payload flagged
``test``); a cancellation with its refund; tracking back from the warehouse (or
simulated after a wait); a return with its refund; the copy's report balancing; and
the clean-up, which always runs: the copy ended, unshipped orders cancelled and
refunded, the dummy stock written off, the deliveries still queued given up. The copy,
its dummy SKU and its orders are kept (marked) as evidence but left out of every real
list, report and stock level, and its buyers exist only in it, so no buyer limit moves.

The first failing stage stops the run and names itself; the verdict, each stage's
detail and seconds, and the timings (p50/p99 of holds and checkouts, time to hand-off)
are kept on the rehearsal row.

One idea: the dress rehearsal's run, stage by stage, kept in one module so the order of
its stages, what each proves and its clean-up can be read together."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dropline.domain.aftersales.returns import ReturnLineRequest, ReturnReason
from dropline.domain.errors import DroplineError, NotFound, PaymentDeclined, SoldOut, StockError
from dropline.domain.fulfilment.rules import FulfilmentUpdate, ShipTo, event_matches
from dropline.domain.ids import new_id
from dropline.domain.live.drops import DropStatus
from dropline.domain.live.holds import Hold, HoldItem, ItemKind
from dropline.domain.live.orders import OrderStatus
from dropline.domain.readiness import rehearsal as rh
from dropline.domain.stock.buckets import Bucket, Movement, Reason
from dropline.services.aftersales.cancellations import CancellationService
from dropline.services.aftersales.returns import ReturnService
from dropline.services.catalog.products import CatalogService
from dropline.services.fulfilment.handoff import READY
from dropline.services.fulfilment.shipping import FulfilmentService, UpdateDetails
from dropline.services.fulfilment.webhooks import WebhookService
from dropline.services.insight.report import ReportService
from dropline.services.live.checkout import CheckoutService
from dropline.services.live.drops import DropService
from dropline.services.live.holds import HoldService
from dropline.services.ports import Clock
from dropline.services.readiness.gate import ReadinessService
from dropline.services.serialize import rfc3339
from dropline.services.stock.ledger import StockService
from dropline.store.uow import UowFactory

Row = dict[str, Any]
POLL_S = 0.2


@dataclass(frozen=True)
class Line:
    """The services that take money: the configured provider's in test mode (or, when
    its keys are live, a second one with the test key). ``problem`` says why there is
    none (live keys and no test key), and the payments stage fails with it."""

    checkout: CheckoutService | None
    cancellations: CancellationService | None
    returns: ReturnService | None
    problem: str = ""


@dataclass(frozen=True)
class RehearsalPolicy:
    buyers: int = 12
    timeout_s: float = 30.0
    tracking_wait_s: float = 5.0
    methods: dict[str, str] = field(default_factory=lambda: dict(rh.DEFAULT_METHODS))
    email: str = ""


class StageFailed(Exception):
    """A stage failed; the run stops there (the clean-up still runs)."""


@dataclass
class _Run:
    id: str
    drop_id: str
    actor: str
    results: list[rh.StageResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    copy_id: str = ""
    sku_id: str = ""
    holds: list[Hold] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    paid_at: dict[str, float] = field(default_factory=dict)
    cancelled: str = ""


class RehearsalService:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        *,
        catalog: CatalogService,
        stock: StockService,
        drops: DropService,
        holds: HoldService,
        line: Line,
        fulfilment: FulfilmentService,
        webhooks: WebhookService,
        reports: ReportService,
        readiness: ReadinessService,
        policy: RehearsalPolicy,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.catalog = catalog
        self.stock = stock
        self.drops = drops
        self.holds = holds
        self.line = line
        self.fulfilment = fulfilment
        self.webhooks = webhooks
        self.reports = reports
        self.readiness = readiness
        self.policy = policy
        self._locks: dict[str, asyncio.Lock] = {}

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # ------------------------------------------------------------------ reading
    async def history(self, drop_id: str, limit: int = 10) -> list[Row]:
        """A drop's rehearsals, newest first, with their stages and timings."""
        async with self.uow(readonly=True) as uow:
            rows = await uow.readiness.rehearsals(drop_id, limit)
        return [_view(r) for r in rows]

    # ------------------------------------------------------------------ running
    async def run(self, drop_id: str, *, actor: str = "") -> Row:
        """Rehearse the drop now and return the verdict. ``Conflict`` for a drop that
        is live, paused or ended, or is itself a rehearsal copy; one rehearsal of a drop
        at a time in this process."""
        lock = self._locks.setdefault(drop_id, asyncio.Lock())
        async with lock:
            drop = (await self.drops.get(drop_id))[0]
            rh.check_rehearsable(drop)
            r = _Run(new_id("reh"), drop_id, actor[:120] or "rehearsal")
            async with self.uow() as uow:
                await uow.readiness.add_rehearsal(
                    {
                        "id": r.id,
                        "drop_id": drop_id,
                        "status": "running",
                        "stages": [],
                        "timings": {},
                        "actor": r.actor,
                        "started_at": self._now(),
                    }
                )
                await uow.commit()
            try:
                for step in (
                    self._setup,
                    self._holds,
                    self._payments,
                    self._decline,
                    self._three_d_secure,
                    self._hand_off,
                    self._cancellation,
                    self._tracking,
                    self._return,
                    self._report,
                ):
                    await step(r)
            except StageFailed:
                pass
            finally:
                await self._cleanup(r)
                await self._save(r, final=True)
        return (await self.history(drop_id, limit=1))[0]

    @asynccontextmanager
    async def _stage(self, r: _Run, stage: rh.Stage) -> AsyncIterator[list[str]]:
        """Time a stage; what it appends to the yielded list is its detail. A
        ``DroplineError`` (or any error) fails it and stops the run."""
        started = time.perf_counter()
        notes: list[str] = []
        status = rh.Outcome.PASS
        try:
            yield notes
        except _Skip as skip:
            status, notes = rh.Outcome.SKIP, [str(skip)]
        except DroplineError as exc:
            status, notes = rh.Outcome.FAIL, [*notes, f"[{exc.code}] {exc.detail}"]
        except (StageFailed, AssertionError) as exc:
            status, notes = rh.Outcome.FAIL, [*notes, str(exc)]
        except Exception as exc:  # an unreachable part fails its stage, by name
            status, notes = rh.Outcome.FAIL, [*notes, f"{type(exc).__name__}: {exc}"]
        seconds = time.perf_counter() - started
        r.results.append(rh.StageResult(stage, status, "; ".join(notes)[:1000], seconds))
        await self._save(r)
        if status is rh.Outcome.FAIL:
            raise StageFailed(stage.value)

    async def _save(self, r: _Run, *, final: bool = False) -> None:
        values: Row = {
            "stages": [x.as_dict() for x in r.results],
            "timings": r.timings,
            "copy_drop_id": r.copy_id or None,
            "sku_id": r.sku_id or None,
        }
        if final:
            values |= {"status": rh.verdict(r.results), "finished_at": self._now()}
        async with self.uow() as uow:
            await uow.readiness.update_rehearsal(r.id, **values)
            await uow.commit()

    # ------------------------------------------------------------------ stages
    async def _setup(self, r: _Run) -> None:
        async with self._stage(r, rh.Stage.SETUP) as notes:
            drop, offers, _ = await self.drops.get(r.drop_id)
            price = 1000
            if offers:
                first = await self.catalog.get_sku(sorted(offers)[0])
                price = first.price.amount or price
            product = await self.catalog.create_product(f"Rehearsal {r.id}", "dummy product")
            async with self.uow() as uow:
                await uow.readiness.update_rehearsal(r.id, product_id=product.id)
                await uow.commit()
            sku = await self.catalog.create_sku(
                product.id, f"REHEARSAL-{r.id[4:]}", price, drop.currency, {"rehearsal": r.id}
            )
            r.sku_id = sku.id
            await self._save(r)
            units = self.policy.buyers
            await self.stock.receive(sku.id, units, actor=r.actor, note="rehearsal stock", ref=r.id)
            copy = await self.drops.create(
                f"Rehearsal of {drop.name}", drop.currency, drop.hold_ttl_s, rehearsal_of=drop.id
            )
            r.copy_id = copy.id
            await self._save(r)
            await self.drops.set_offer(copy.id, sku.id, units, per_buyer_limit=1)
            await self.drops.transition(copy.id, DropStatus.SCHEDULED, actor=r.actor)
            await self.drops.transition(copy.id, DropStatus.LIVE, actor=r.actor)
            notes.append(f"copy {copy.id} live with {units} units of {sku.code}")

    async def _holds(self, r: _Run) -> None:
        async with self._stage(r, rh.Stage.HOLDS) as notes:
            item = [HoldItem(ItemKind.SKU, r.sku_id, 1)]
            buyers = [f"rehearsal-{r.id}-{n}" for n in range(self.policy.buyers + 1)]
            times: list[float] = []

            async def tap(buyer: str) -> Hold | None:
                started = time.perf_counter()
                try:
                    return await self.holds.place(
                        r.copy_id,
                        buyer,
                        item,
                        attribution={"channel": "live", "utm_campaign": "rehearsal"},
                    )
                except (SoldOut, StockError):
                    return None
                finally:
                    times.append((time.perf_counter() - started) * 1000)

            placed = await asyncio.gather(*(tap(b) for b in buyers))
            r.holds = [h for h in placed if h is not None]
            r.timings |= rh.latency("hold", times)
            notes.append(
                f"{len(buyers)} buyers at once: {len(r.holds)} holds, "
                f"{len(buyers) - len(r.holds)} sold out"
            )
            if len(r.holds) != self.policy.buyers:
                raise StageFailed(f"{len(r.holds)} holds for {self.policy.buyers} units")

    def _ship_to(self, n: int) -> ShipTo:
        return ShipTo(
            f"Rehearsal buyer {n}",
            "1 Rehearsal Way",
            "",
            "Testville",
            "",
            "00000",
            "GB",
            self.policy.email,
            "",
            "standard",
        )

    async def _payments(self, r: _Run) -> None:
        async with self._stage(r, rh.Stage.PAYMENTS) as notes:
            checkout = self.line.checkout
            if checkout is None:
                raise StageFailed(self.line.problem)
            times: list[float] = []

            async def pay(n: int, hold: Hold) -> None:
                started = time.perf_counter()
                result = await checkout.start(
                    hold.id, hold.buyer_id, self.policy.methods["ok"], self._ship_to(n)
                )
                times.append((time.perf_counter() - started) * 1000)
                if result.order is None:
                    raise StageFailed(f"hold {hold.id}: checkout is {result.checkout.status}")
                r.orders.append(result.order.id)
                r.paid_at[result.order.id] = result.order.paid_at.timestamp()

            await asyncio.gather(*(pay(n, h) for n, h in enumerate(r.holds) if n >= 2))
            r.timings |= rh.latency("checkout", times)
            notes.append(f"{len(times)} paid with {self.policy.methods['ok']}")

    async def _decline(self, r: _Run) -> None:
        async with self._stage(r, rh.Stage.DECLINE) as notes:
            assert self.line.checkout is not None
            hold = r.holds[0]
            try:
                await self.line.checkout.start(
                    hold.id, hold.buyer_id, self.policy.methods["decline"], self._ship_to(0)
                )
            except PaymentDeclined as exc:
                notes.append(f"declined ({exc.extra.get('decline_code') or 'declined'})")
            else:
                raise StageFailed(f"{self.policy.methods['decline']} was not declined")
            again = await self.line.checkout.start(
                hold.id, hold.buyer_id, self.policy.methods["ok"], self._ship_to(0)
            )
            if again.order is None:
                raise StageFailed("the buyer could not pay after the decline")
            r.orders.append(again.order.id)
            r.paid_at[again.order.id] = again.order.paid_at.timestamp()
            notes.append("then paid with another card on the same hold")

    async def _three_d_secure(self, r: _Run) -> None:
        async with self._stage(r, rh.Stage.THREE_D_SECURE) as notes:
            assert self.line.checkout is not None
            hold = r.holds[1]
            first = await self.line.checkout.start(
                hold.id, hold.buyer_id, self.policy.methods["three_d_secure"], self._ship_to(1)
            )
            if first.order is not None or first.next_action is None:
                raise StageFailed(f"{self.policy.methods['three_d_secure']} was not challenged")
            notes.append("the provider asked for 3-D Secure")
            done = await self.line.checkout.confirm(first.checkout.id, hold.buyer_id)
            if done.order is not None:
                r.orders.append(done.order.id)
                r.paid_at[done.order.id] = done.order.paid_at.timestamp()
                notes.append("authenticated and paid")
            else:
                notes.append("the challenge needs the buyer's browser; left to expire")
                with suppress(DroplineError):
                    await self.holds.release(hold.id, hold.buyer_id)

    async def _hand_off(self, r: _Run) -> None:
        async with self._stage(r, rh.Stage.HAND_OFF) as notes:
            endpoints = {
                e["id"]: e
                for e in await self.webhooks.list_endpoints()
                if e["enabled"] and e["warehouse"] and event_matches(e["event_types"], READY)
            }
            if not endpoints:
                raise _Skip("no warehouse endpoint receives order.ready_to_fulfill")
            deadline = time.monotonic() + self.policy.timeout_s
            waits: list[float] = []
            while True:
                await self.webhooks.run_once()
                async with self.uow(readonly=True) as uow:
                    rows = await uow.readiness.deliveries_for(r.orders)
                rows = [d for d in rows if d["endpoint_id"] in endpoints]
                # Any event of these orders failing holds its later ones (the hand-off
                # included) back: each order's events arrive in order.
                failed = [d for d in rows if d["status"] in ("failed", "dead")]
                if failed:
                    d = failed[0]
                    answer = d["last_status_code"] or d["last_error"] or "nothing"
                    url = endpoints[d["endpoint_id"]]["url"]
                    await self._record_check(r, d, url, ok=False)
                    raise StageFailed(
                        f"{url} answered {answer} to {d['event_type']} of order {d['aggregate_id']}"
                    )
                done = {
                    (d["aggregate_id"], d["endpoint_id"]): d
                    for d in rows
                    if d["event_type"] == READY and d["status"] == "delivered"
                }
                if len(done) == len(r.orders) * len(endpoints):
                    break
                if time.monotonic() > deadline:
                    raise StageFailed(
                        f"{len(done)} of {len(r.orders) * len(endpoints)} hand-offs answered "
                        f"in {self.policy.timeout_s:.0f} s"
                    )
                await asyncio.sleep(POLL_S)
            for d in done.values():
                paid = r.paid_at.get(d["aggregate_id"])
                if paid is not None and d["delivered_at"] is not None:
                    waits.append(max(d["delivered_at"].timestamp() - paid, 0.0))
            for endpoint_id, e in endpoints.items():
                mine = [d for d in done.values() if d["endpoint_id"] == endpoint_id]
                await self._record_check(r, mine[0], e["url"], ok=True)
            r.timings["hand_off_p50_s"] = round(rh.percentile(waits, 50), 3)
            r.timings["hand_off_max_s"] = round(max(waits, default=0.0), 3)
            notes.append(f"{len(r.orders)} orders to {len(endpoints)} endpoint(s), flagged test")

    async def _record_check(self, r: _Run, d: Row, url: str, *, ok: bool) -> None:
        """The hand-off's answer is the gate's evidence too: a signed, test-flagged
        delivery the endpoint answered."""
        code = d["last_status_code"] or (200 if ok else None)
        error = "" if ok else d["last_error"]
        await self.readiness.record_endpoint_check(
            d["endpoint_id"], url, code, 0, error, f"rehearsal {r.id}"
        )

    async def _cancellation(self, r: _Run) -> None:
        async with self._stage(r, rh.Stage.CANCELLATION) as notes:
            cancellations = self.line.cancellations
            assert cancellations is not None
            order = await cancellations.cancel(r.orders[-1], reason="rehearsal", by=r.actor)
            r.cancelled = order.id
            if (
                order.status is not OrderStatus.REFUNDED
                or order.refunded_amount != order.total_amount
            ):
                raise StageFailed(f"order {order.id} is {order.status} after cancelling")
            notes.append(f"{order.id} cancelled and refunded {order.refunded_amount}")

    async def _tracking(self, r: _Run) -> None:
        async with self._stage(r, rh.Stage.TRACKING) as notes:
            open_ = [o for o in r.orders if o != r.cancelled]
            deadline = time.monotonic() + self.policy.tracking_wait_s
            while True:
                waiting = [o for o in open_ if await self._status(o) not in _SHIPPED]
                if not waiting or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(POLL_S)
            for n, order_id in enumerate(waiting):
                await self.fulfilment.apply_update(
                    "rehearsal",
                    f"{r.id}:{order_id}",
                    FulfilmentUpdate.SHIPPED,
                    order_id,
                    UpdateDetails(
                        "REHEARSAL", f"REH-{r.id[-8:]}-{n}", "", "simulated by the rehearsal"
                    ),
                )
            notes.append(
                f"{len(open_) - len(waiting)} from the warehouse, {len(waiting)} "
                f"simulated after {self.policy.tracking_wait_s:.0f} s"
            )

    async def _status(self, order_id: str) -> OrderStatus:
        async with self.uow(readonly=True) as uow:
            order = await uow.orders.get_order(order_id)
        if order is None:
            raise NotFound(f"order {order_id} not found")
        return order.status

    async def _return(self, r: _Run) -> None:
        async with self._stage(r, rh.Stage.RETURN) as notes:
            returns = self.line.returns
            assert returns is not None
            order_id = next(o for o in r.orders if o != r.cancelled)
            ret = await returns.request(
                order_id,
                [ReturnLineRequest(1, 1, ReturnReason.CHANGED_MIND)],
                note="rehearsal",
                by=r.actor,
            )
            ret = await returns.receive(ret.id, by=r.actor)
            if ret.status != "refunded":
                raise StageFailed(f"return {ret.id} is {ret.status}: {ret.refund_error}")
            notes.append(f"{ret.id} received and refunded {ret.refund_amount}")

    async def _report(self, r: _Run) -> None:
        async with self._stage(r, rh.Stage.REPORT) as notes:
            report = await self.reports.build(r.copy_id)
            off = [c["label"] for c in report["reconciliation"] if not c["balanced"]]
            if off:
                raise StageFailed(f"the report does not balance: {', '.join(off)}")
            t = report["totals"]
            notes.append(
                f"balanced: {t['orders']} orders, captured {t['captured']}, "
                f"refunded {t['refunded']}"
            )

    async def _cleanup(self, r: _Run) -> None:
        with suppress(StageFailed):
            async with self._stage(r, rh.Stage.CLEANUP) as notes:
                if r.copy_id:
                    await self._end_copy(r, notes)
                if r.sku_id:
                    await self._write_off(r, notes)
                async with self.uow() as uow:
                    retired = await uow.readiness.retire_deliveries(
                        r.orders, f"rehearsal {r.id} finished"
                    )
                    await uow.commit()
                if retired:
                    notes.append(f"{retired} queued test deliveries given up")

    async def _end_copy(self, r: _Run, notes: list[str]) -> None:
        for order_id in r.orders:  # a run that stopped early leaves paid orders
            if await self._status(order_id) in (OrderStatus.PAID, OrderStatus.HANDED_OFF):
                assert self.line.cancellations is not None
                await self.line.cancellations.cancel(
                    order_id, reason="rehearsal clean-up", by=r.actor
                )
        drop = (await self.drops.get(r.copy_id))[0]
        if drop.status is not DropStatus.ENDED:
            await self.drops.transition(r.copy_id, DropStatus.ENDED, actor=r.actor)
        notes.append(f"copy {r.copy_id} ended")

    async def _write_off(self, r: _Run, notes: list[str]) -> None:
        level = await self.stock.level(r.sku_id)
        moves = [
            Movement(
                r.sku_id,
                level.get(b),
                b,
                None,
                Reason.ADJUSTMENT,
                r.id,
                r.actor,
                "rehearsal clean-up",
            )
            for b in (Bucket.AVAILABLE, Bucket.SAFETY, Bucket.QUALITY_CONTROL, Bucket.DAMAGED)
            if level.get(b) > 0
        ]
        async with self.uow() as uow:
            after = (await uow.stock.apply(moves)).get(r.sku_id, level) if moves else level
            await uow.commit()
        if after.on_hand:
            raise StageFailed(f"{after.on_hand} dummy units are still on hand")
        notes.append(f"dummy stock written off ({sum(m.quantity for m in moves)} units)")


class _Skip(Exception):
    """The stage has nothing to exercise here (its reason is the detail)."""


_SHIPPED = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED})


def _view(r: Row) -> Row:
    stages = list(r["stages"])
    return {
        "id": r["id"],
        "drop_id": r["drop_id"],
        "copy_drop_id": r["copy_drop_id"],
        "sku_id": r["sku_id"],
        "status": r["status"],
        "failed_stage": next((s["stage"] for s in stages if s["status"] == "fail"), ""),
        "stages": stages,
        "timings": dict(r["timings"]),
        "actor": r["actor"],
        "started_at": rfc3339(r["started_at"]),
        "finished_at": rfc3339(r["finished_at"]),
    }

"""Paid orders written to the database: alone, or together in one transaction.

One order has a transaction of its own; the orders paid at the same moment share one
(group commit), each with every rule of a lone order kept.

``services.live.checkout`` decides *when* an order is written (step 6 of its sequence:
the claim held, the units secured, the payment captured); this module is *how*: the
compare-and-set on the claim, the ledger's conditional sale, the order with its lines
and number, the sale movements, the events and fulfilment's hand-off, in an order of
row locks every writer shares. A refusal writes nothing and is the caller's to answer
(a batch is then written one order at a time; a lone order's payment is given back).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from dropline.domain.errors import SoldOut
from dropline.domain.events import DomainEvent
from dropline.domain.fulfilment.rules import ShipTo
from dropline.domain.live.orders import OrderStatus, order_number
from dropline.domain.stock.buckets import Bucket, Movement, Reason
from dropline.services.live.drop_catalog import DropCatalog
from dropline.services.ports import (
    PaymentProvider,
    PaymentResult,
    PaymentStatus,
    WritesInTransaction,
)
from dropline.services.supply.preorders import PreorderService, preorder_infos
from dropline.store.group_commit import BatchRefused
from dropline.store.live.order_records import CheckoutRecord, OrderLine, OrderRecord
from dropline.store.uow import UnitOfWork, UowFactory


class LedgerRefused(SoldOut):
    """The ledger's conditional sale refused the units; the payment was given back."""


@dataclass(frozen=True)
class CheckoutResult:
    """What a checkout call answers: the checkout as it now stands, its order once paid,
    and what the buyer must do next (``next_action``: 3-D Secure) when it waits."""

    checkout: CheckoutRecord
    order: OrderRecord | None = None
    next_action: dict[str, Any] | None = None


OnPaid = Callable[[UnitOfWork, "CheckoutResult"], Awaitable[None]]
"""Called inside the transaction that writes the order, just before it commits, with
the result ``start`` is about to return (the API stores its idempotent response there)."""


class OrderHooks(Protocol):
    """What fulfilment adds inside checkout's transactions (see services.fulfilment)."""

    async def save_ship_to(self, uow: UnitOfWork, checkout_id: str, ship: ShipTo) -> None: ...

    async def order_paid(
        self,
        uow: UnitOfWork,
        order: OrderRecord,
        ready: bool = True,
        *,
        known: DropCatalog | None = None,
    ) -> None: ...

    async def orders_paid(
        self, uow: UnitOfWork, orders: Sequence[OrderRecord], *, known: DropCatalog
    ) -> None:
        """``order_paid`` (ready) for orders of one drop written together."""
        ...


@dataclass(frozen=True)
class OrderJob:
    """One paid order to write: everything its transaction needs, decided before it
    (the payment captured, the order's id and time chosen)."""

    checkout: CheckoutRecord  # as claimed: its version is the claim
    auth: PaymentResult
    lines: list[OrderLine]
    on_paid: OnPaid | None
    catalog: DropCatalog
    order_id: str
    now: datetime
    #: the capture's idempotency key when the payment is to be captured in the order's
    #: own transaction (a provider that ``WritesInTransaction``, in a batch); None when
    #: ``auth`` is final already
    capture_key: str | None = None


async def commit_batch(uow: UnitOfWork) -> None:
    """A group-commit batch's commit (``uow.commit`` looked up on each call, so a test
    can make commits fail)."""
    await uow.commit()


def in_transaction(provider: PaymentProvider, uow: UnitOfWork) -> WritesInTransaction | None:
    """``provider`` when it can write its payments in ``uow``'s transaction."""
    if isinstance(provider, WritesInTransaction) and provider.writes_in(uow.conn):
        return provider
    return None


def sale_movements(job: OrderJob, preorder_skus: Mapping[str, Any]) -> list[Movement]:
    """The order's units from reserved to committed (pre-order units have none yet)."""
    return [
        Movement(sku, qty, Bucket.RESERVED, Bucket.COMMITTED, Reason.SALE, job.order_id)
        for sku, qty in sorted(job.checkout.units.items())
        if sku not in preorder_skus
    ]


def _order_payload(order: OrderRecord) -> dict[str, Any]:
    return {
        "id": order.id,
        "number": order.number,
        "drop_id": order.drop_id,
        "buyer_id": order.buyer_id,
        "status": order.status.value,
        "currency": order.currency,
        "total_amount": order.total_amount,
        "version": order.version,
        "lines": [
            {
                "kind": ln.kind,
                "ref_id": ln.ref_id,
                "description": ln.description,
                "quantity": ln.quantity,
                "unit_amount": ln.unit_amount,
                "line_amount": ln.line_amount,
            }
            for ln in order.lines
        ],
    }


class OrderWriter:
    """Writes paid orders (see the module docstring). ``hooks`` is fulfilment's part
    of each order's transaction, set once the services are wired."""

    def __init__(
        self,
        uow: UowFactory,
        preorders: PreorderService | None,
        order_prefix: str,
        provider: PaymentProvider,
    ) -> None:
        self.uow = uow
        self.provider = provider
        self.preorders = preorders
        self.order_prefix = order_prefix
        self.hooks: OrderHooks | None = None

    @property
    def provider(self) -> PaymentProvider:
        """The payment provider (``_capture`` captures with it)."""
        return self._provider

    @provider.setter
    def provider(self, provider: PaymentProvider) -> None:
        self._provider = provider
        #: whether a batch may capture in its own transaction (``_capture`` still checks
        #: the database); cached: a runtime protocol check costs microseconds per order
        self.captures_in_batch = isinstance(provider, WritesInTransaction)

    async def write_alone(self, job: OrderJob) -> CheckoutResult | None:
        """Write one order in a transaction of its own (group commit off, an order of a
        drop with pre-orders, or one whose batch was rolled back). None when the claim
        was lost (another finisher took over); ``LedgerRefused`` when the ledger
        refused the sale. Either way nothing was written, and on a refusal the caller
        gives the payment back (its message already says so)."""
        if job.capture_key is not None:
            raise ValueError("an order written alone is captured before it is written")
        checkout = job.checkout
        async with self.uow() as uow:
            # Compare-and-set on the claim first (locks the row on PostgreSQL); rolled
            # back with the rest if the sale below is refused.
            succeeded = await uow.orders.succeed_claimed(
                [(checkout, job.auth.payment_id, job.order_id)]
            )
            if succeeded is None:
                # The claim outlived its lease and another finisher took over.
                await uow.rollback()
                return None
            # Never on an ended drop, and ending a drop waits for the sales in flight
            # (see DropRepository.sell_if_open).
            if not await uow.drops.sell_if_open(checkout.drop_id, checkout.units):
                await uow.rollback()
                raise LedgerRefused(
                    "the items sold out while your payment was processed; it was refunded",
                    checkout_id=checkout.id,
                )
            order = await self._add_orders(uow, [job])
            # Pre-order units do not exist yet: no sale movement, a promise instead
            # (stock moves when a lot passes QC and is allocated).
            infos = await preorder_infos(uow, checkout.drop_id) if job.catalog.preorders else {}
            await uow.stock.apply(sale_movements(job, infos))
            if infos and self.preorders is not None:
                await self.preorders.record(
                    uow,
                    order[0],
                    checkout.units,
                    infos,
                    captured=job.auth.status is PaymentStatus.CAPTURED,
                )
            done = await self._order_paid(uow, job, succeeded[0], order[0], infos)
            await uow.commit()
        return done

    async def write_batch(self, uow: UnitOfWork, jobs: Sequence[OrderJob]) -> list[CheckoutResult]:
        """Write every job's order in ``uow`` (one transaction, committed by the
        writer), with each order's rules: the compare-and-set on its claim, the ledger's
        conditional sale (``sold + n <= offered``, here once per (drop, SKU) for the
        batch's sum: it succeeds exactly when every order's own would, one after the
        other), one order per hold (the orders table's unique hold). Raises
        ``BatchRefused`` when one of them refuses; the writer then rolls the batch back
        and each job is written alone by ``write_alone``, whose caller refunds the one
        whose sale the ledger refuses.

        Rows are locked in one order for every batch and every single order: the
        checkouts, then each drop (shared), then the rows only this batch writes (its
        orders, shipments, messages), then the drop's offers in (drop, SKU) order, then
        the stock levels in SKU order (one ``StockRepository.apply`` for the whole
        batch). The offers and stock levels of a selling SKU are the rows every batch
        wants, so they are taken last: on PostgreSQL another process's batch waits for
        them only while this one sells and commits. Batches in other processes
        therefore wait for each other instead of deadlocking; a deadlock or
        serialization error anyway only rolls the batch back, like a refusal.

        Jobs with a ``capture_key`` are captured here first (``_capture``), among the
        rows only this batch writes."""
        if len({job.checkout.id for job in jobs}) < len(jobs):
            raise BatchRefused("two finishers of one checkout")
        succeeded = await uow.orders.succeed_claimed(
            [(job.checkout, job.auth.payment_id, job.order_id) for job in jobs]
        )
        if succeeded is None:
            raise BatchRefused("the claim on one of the batch's checkouts was lost")
        per_drop: dict[str, dict[str, int]] = {}
        for job in jobs:
            units = per_drop.setdefault(job.checkout.drop_id, {})
            for sku, qty in job.checkout.units.items():
                units[sku] = units.get(sku, 0) + qty
        for drop_id in sorted(per_drop):
            if not await uow.drops.open_for_sales(drop_id):
                raise BatchRefused(f"drop {drop_id} ended before the batch's sale")
        await self._capture(uow, jobs)
        orders = await self._add_orders(uow, jobs)
        # Each order's events in the order a lone order records them (paid, the
        # hand-off's, succeeded); the hand-off of a drop's orders in one go.
        for job, order in zip(jobs, orders, strict=True):
            self._record_paid(uow, job, order, {})
        if self.hooks is not None:
            per_catalog: dict[str, tuple[DropCatalog, list[OrderRecord]]] = {}
            for job, order in zip(jobs, orders, strict=True):
                per_catalog.setdefault(order.drop_id, (job.catalog, []))[1].append(order)
            for catalog, paid in per_catalog.values():
                await self.hooks.orders_paid(uow, paid, known=catalog)
        for drop_id in sorted(per_drop):
            if not await uow.drops.sell_if_open(drop_id, per_drop[drop_id], checked=True):
                raise BatchRefused(f"the ledger refused the batch's sale on drop {drop_id}")
        await uow.stock.apply(
            sorted(
                (m for job in jobs for m in sale_movements(job, {})),
                key=lambda m: (m.sku_id, m.ref),
            )
        )
        return [
            await self._succeeded(uow, job, updated, order)
            for job, updated, order in zip(jobs, succeeded, orders, strict=True)
        ]

    async def _capture(self, uow: UnitOfWork, jobs: Sequence[OrderJob]) -> None:
        """Capture the payments of the jobs that carry a ``capture_key``, in ``uow``:
        the capture commits with its order or not at all (a crash before the commit
        leaves an authorised payment, which recovery captures). ``BatchRefused`` when
        one is refused, or the provider cannot write here: each job is then captured
        and written alone, as before."""
        capturing = [job for job in jobs if job.capture_key is not None]
        if not capturing:
            return
        provider = in_transaction(self.provider, uow)
        if provider is None:
            raise BatchRefused("the payment provider cannot write in this transaction")
        answers = await provider.capture_in(
            uow.conn, [(job.auth.payment_id, job.capture_key or "") for job in capturing]
        )
        for job, answer in zip(capturing, answers, strict=True):
            if isinstance(answer, Exception):
                raise BatchRefused(f"the capture of {job.checkout.id} was refused") from answer

    async def _add_orders(self, uow: UnitOfWork, jobs: Sequence[OrderJob]) -> list[OrderRecord]:
        """Number and insert the jobs' orders with their lines (one insert per table)."""
        made = []
        numbers = await uow.orders.next_order_numbers([job.order_id for job in jobs])
        for job, seq in zip(jobs, numbers, strict=True):
            checkout = job.checkout
            made.append(
                OrderRecord(
                    id=job.order_id,
                    drop_id=checkout.drop_id,
                    buyer_id=checkout.buyer_id,
                    hold_id=checkout.hold_id,
                    checkout_id=checkout.id,
                    status=OrderStatus.PAID,
                    status_reason="",
                    currency=checkout.currency,
                    total_amount=checkout.amount,
                    refunded_amount=0,
                    provider=checkout.provider,
                    payment_id=job.auth.payment_id,
                    attribution=checkout.attribution,
                    paid_at=job.now,
                    created_at=job.now,
                    updated_at=job.now,
                    version=1,
                    lines=tuple(job.lines),
                    number=order_number(self.order_prefix, seq),
                )
            )
        await uow.orders.add_orders(made)
        return made

    async def _order_paid(
        self,
        uow: UnitOfWork,
        job: OrderJob,
        updated: CheckoutRecord,
        order: OrderRecord,
        infos: Mapping[str, Any],
    ) -> CheckoutResult:
        """The order's events, the warehouse hand-off and ``on_paid``, in the order's
        transaction once its sale is recorded."""
        pre_units = self._record_paid(uow, job, order, infos)
        if self.hooks is not None:
            # Orders waiting for a production run are handed off when allocated.
            await self.hooks.order_paid(uow, order, ready=not pre_units, known=job.catalog)
        return await self._succeeded(uow, job, updated, order)

    @staticmethod
    def _record_paid(
        uow: UnitOfWork, job: OrderJob, order: OrderRecord, infos: Mapping[str, Any]
    ) -> dict[str, int]:
        """Record ``order.paid``; the order's pre-order units (waiting for their
        production run, so not ready to fulfil)."""
        paid = _order_payload(order)
        if job.catalog.drop.rehearsal_of is not None:  # a dress rehearsal's order
            paid |= {"test": True, "rehearsal_of": job.catalog.drop.rehearsal_of}
        pre_units = {s: q for s, q in sorted(job.checkout.units.items()) if s in infos}
        if pre_units:
            paid["preorder"] = {"status": "waiting", "units": pre_units}
        uow.record(DomainEvent("order.paid", "order", order.id, 1, paid))
        return pre_units

    @staticmethod
    async def _succeeded(
        uow: UnitOfWork, job: OrderJob, updated: CheckoutRecord, order: OrderRecord
    ) -> CheckoutResult:
        """Record ``checkout.succeeded`` and run ``on_paid`` (last: its locks are taken
        after the sale's)."""
        checkout = job.checkout
        uow.record(
            DomainEvent(
                "checkout.succeeded",
                "checkout",
                checkout.id,
                updated.version,
                {"order_id": order.id, "hold_id": checkout.hold_id},
            )
        )
        done = CheckoutResult(updated, order)
        if job.on_paid is not None:
            await job.on_paid(uow, done)
        return done

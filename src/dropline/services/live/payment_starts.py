"""Payments being started: the checkout recorded before its provider is asked.

Step 2 of ``services.live.checkout``: a ``processing`` checkout row is committed before
the provider is called, its id the provider's idempotency key, so recovery after a crash
is "ask again". One transaction also checks the hold's earlier payments (one payment per
hold) and moves the hold to ``paying``, so the check and the insert are atomic.

Payments started at the same moment share that transaction (group commit, one writer per
process), each with its own rules; a provider whose payments are rows of this database
(the sandbox, ``WritesInTransaction``) writes their authorisations in it too. The rest
of the sequence (the provider's answer, the claim, the units, the order) stays in
``checkout``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dropline.domain.errors import Conflict, DroplineError
from dropline.domain.fulfilment.rules import ShipTo
from dropline.domain.ids import new_id
from dropline.domain.live.holds import Hold
from dropline.domain.live.orders import CheckoutStatus
from dropline.services.context import actor as current_actor
from dropline.services.live.drop_catalog import DropCatalog
from dropline.services.live.order_writes import OrderHooks, commit_batch, in_transaction
from dropline.services.ports import (
    Authorization,
    Clock,
    PaymentProvider,
    PaymentResult,
    StockEngine,
)
from dropline.store.group_commit import GroupCommit
from dropline.store.live.order_records import CheckoutRecord, OrderLine
from dropline.store.uow import UnitOfWork, UowFactory

#: A checkout a finisher may still claim: waiting for the buyer, or being finished by a
#: finisher whose claim (lease) the caller read.
OPEN_CHECKOUT = frozenset({CheckoutStatus.PROCESSING, CheckoutStatus.REQUIRES_ACTION})

OnStarted = Callable[[UnitOfWork, CheckoutRecord], Awaitable[None]]
"""Called inside the transaction that records a new checkout, before the provider is
called (the API remembers the checkout on the request's idempotency key there)."""


def price_lines(hold: Hold, catalog: DropCatalog) -> list[OrderLine]:
    """Order lines with prices copied from the catalog at checkout time."""
    lines = []
    for n, item in enumerate(hold.items, start=1):
        if item.kind == "bundle":
            bundle = catalog.bundles[item.ref]
            unit, desc = bundle.price, bundle.name
        else:
            unit, desc = catalog.skus[item.ref].price, catalog.describe_sku(item.ref)
        lines.append(
            OrderLine(
                n,
                str(item.kind),
                item.ref,
                desc,
                item.quantity,
                unit.amount,
                unit.currency,
                unit.amount * item.quantity,
            )
        )
    return lines


def authorization(checkout: CheckoutRecord) -> Authorization:
    """The checkout's authorisation; its id is the idempotency key."""
    return Authorization(
        checkout.amount,
        checkout.currency,
        checkout.payment_method,
        checkout.id,
        {"checkout_id": checkout.id, "hold_id": checkout.hold_id, "drop_id": checkout.drop_id},
    )


@dataclass(frozen=True)
class StartJob:
    """One payment to record before the provider is called: the buyer's hold (its
    owner checked), how they pay, and the catalog that prices it."""

    hold: Hold
    payment_method: str
    ship_to: ShipTo | None
    on_started: OnStarted | None
    catalog: DropCatalog


#: the new checkout, its priced lines, and the provider's answer when the authorisation
#: was written in the same transaction (``WritesInTransaction``; None: not asked yet)
Started = tuple[CheckoutRecord, list[OrderLine], PaymentResult | Exception | None]


class PaymentStarts:
    """Records started payments (see the module docstring). ``provider`` and ``hooks``
    are the checkout service's, kept in step by it; ``writer`` batches the starts when
    group commit is on."""

    def __init__(
        self,
        uow: UowFactory,
        engine: StockEngine,
        clock: Clock,
        provider: PaymentProvider,
        paying_cap_s: int,
        *,
        group_commit: bool,
    ) -> None:
        self.uow = uow
        self.engine = engine
        self.clock = clock
        self.provider = provider
        self.paying_cap_s = paying_cap_s
        self.hooks: OrderHooks | None = None
        self.writer: GroupCommit[UnitOfWork, StartJob, Started] | None = None
        if group_commit:
            self.writer = GroupCommit(uow, self.write_batch, commit_batch)

    async def record(self, job: StartJob) -> Started:
        """Record ``job``'s payment: in the writer's next batch, or alone (group commit
        off, an operator's payment, or a batch rolled back as a whole). Raises the
        refusal of its own rule (``Conflict``: a payment of the hold in progress or
        done; the hold gone)."""
        started = None
        if self.writer is not None and current_actor.get() is None:
            started = await self.writer.submit(job)
        if started is None:
            started = await self.record_alone(job)
        return started

    async def record_alone(self, job: StartJob) -> Started:
        """Record one payment in a transaction of its own."""
        async with self.uow() as uow:
            previous = await uow.orders.checkouts_for_hold(job.hold.id, lock=True)
            started = await self._begin(job, previous)
            await self._record(uow, [(job, started[0])])
            await uow.commit()
        return started

    async def write_batch(
        self, uow: UnitOfWork, jobs: Sequence[StartJob]
    ) -> list[Started | Exception]:
        """Record the payments of a batch in ``uow`` (one transaction, committed by the
        writer): one read of the holds' earlier checkouts (their locks taken in hold
        order on PostgreSQL), one insert of the new ones. A payment refused by its own
        rule (a payment of its hold in progress or done, the hold gone) is answered
        with its error and writes nothing; two payments of one hold in a batch are
        decided one after the other, so the second sees the first in progress.

        When the provider keeps its payments in this database (the sandbox), the
        authorisations are written here too (``WritesInTransaction``): the checkout
        and its payment commit together, which is as safe as the checkout first
        because neither exists without the other."""
        previous = await uow.orders.checkouts_for_holds([j.hold.id for j in jobs], lock=True)
        out: list[Started | Exception] = []
        made: list[tuple[StartJob, CheckoutRecord]] = []
        for job in jobs:
            try:
                started = await self._begin(job, previous.get(job.hold.id, []))
            except DroplineError as exc:
                out.append(exc)
                continue
            previous.setdefault(job.hold.id, []).append(started[0])
            made.append((job, started[0]))
            out.append(started)
        await self._record(uow, made)
        provider = in_transaction(self.provider, uow)
        if provider is None or not made:
            return out
        paid = iter(
            await provider.authorize_in(uow.conn, [authorization(checkout) for _, checkout in made])
        )
        return [one if isinstance(one, Exception) else (one[0], one[1], next(paid)) for one in out]

    async def _begin(self, job: StartJob, previous: Sequence[CheckoutRecord]) -> Started:
        """Check the hold's earlier payments, move the hold to ``paying`` and price the
        new checkout (inside the transaction that records it: SQLite has one writer,
        PostgreSQL holds the hold's lock, so the check and the insert are atomic)."""
        for earlier in previous:
            if earlier.status in OPEN_CHECKOUT:
                raise Conflict(
                    "a payment for this hold is already in progress", checkout_id=earlier.id
                )
            if earlier.status is CheckoutStatus.SUCCEEDED:
                raise Conflict(
                    "this hold has already been paid for",
                    checkout_id=earlier.id,
                    order_id=earlier.order_id,
                )
        hold = await self.engine.start_payment(job.hold.id, self.clock.now(), self.paying_cap_s)
        lines = price_lines(hold, job.catalog)
        return self._new_checkout(hold, job.payment_method, lines, job.catalog), lines, None

    async def _record(
        self, uow: UnitOfWork, made: Sequence[tuple[StartJob, CheckoutRecord]]
    ) -> None:
        """Insert the new checkouts, then each one's ship-to and ``on_started``."""
        await uow.orders.add_checkouts([checkout for _, checkout in made])
        for job, checkout in made:
            if job.ship_to is not None and self.hooks is not None:
                await self.hooks.save_ship_to(uow, checkout.id, job.ship_to)
            if job.on_started is not None:
                await job.on_started(uow, checkout)

    def _new_checkout(
        self, hold: Hold, payment_method: str, lines: list[OrderLine], catalog: DropCatalog
    ) -> CheckoutRecord:
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        return CheckoutRecord(
            id=new_id("chk"),
            hold_id=hold.id,
            drop_id=hold.drop_id,
            buyer_id=hold.buyer_id,
            status=CheckoutStatus.PROCESSING,
            amount=sum(ln.line_amount for ln in lines),
            currency=catalog.drop.currency,
            provider=self.provider.name,
            payment_id=None,
            payment_method=payment_method,
            decline_code=None,
            failure_reason=None,
            order_id=None,
            items=[{"kind": str(i.kind), "ref": i.ref, "quantity": i.quantity} for i in hold.items],
            units=dict(hold.units),
            attribution=dict(hold.attribution),
            created_at=now,
            updated_at=now,
            version=1,
        )

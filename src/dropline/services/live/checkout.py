"""Checkout: from a hold to a paid order, with no unit or payment lost on any path.

The sequence, and why each step is where it is:

1. The hold moves to ``paying`` (extended once, up to a cap) so a slow card step does not
   lose the unit.
2. A ``processing`` checkout row is committed *before* the provider is called. Its id is
   the provider's idempotency key, so recovery after a crash is simply "ask again". (A
   provider whose payments are rows of this database, the sandbox, writes the
   authorisation in that same transaction instead: both or neither commit.)
3. The provider authorises. A decline is recorded; the hold stays ``paying`` so the buyer
   can retry with another card until it expires. "Requires action" (3-D Secure) waits
   for ``confirm``.
4. One finisher *claims* the checkout: a compare-and-set on its version moves it to
   ``processing`` and starts a lease (``claim_lease_s``). Several may try at once (the
   request that started it, the buyer's ``confirm``, the provider's webhooks, recovery);
   only the one that wins touches the engine or moves money. A loser waits for the
   winner's result and answers with it: the order, never an error for a payment that
   succeeded. The request that created the checkout holds the claim from the start and
   renews it only when half its lease has gone.
5. The claimant secures the units in the engine: the hold is converted, or, if it expired
   or was lost meanwhile, the units are taken afresh, within the per-buyer limits as a
   new hold would be (the expired hold no longer counts; what the buyer bought or holds
   meanwhile does). If they cannot be (sold out, or over a limit), the authorisation is
   voided and the buyer is told: nothing was charged.
6. The claimant captures the payment, then one database transaction writes the order,
   its lines, the sale movements, the checkout's success and the ``order.paid`` event,
   guarded by the claim's version. The sale is a conditional update on the drop's offer
   (``sold + q <= offered``): the ledger itself refuses to oversell even if the engine
   were wrong, in which case the capture is refunded automatically. Units this
   finisher took afresh go back to the engine whenever it does not write the order and
   the checkout stays open for another finisher (a failed capture, a lost claim).
   Orders paid at the same moment share that transaction (group commit, see
   ``_complete``; the sandbox's captures are written in it too), each with every rule
   above; one that refuses sends them all back to one transaction each. How the
   order's rows are written is ``order_writes``.

``recover`` finishes checkouts a crash left half-way (claims that outlived their
lease), using the same steps.

One idea: the checkout sequence below, kept in one module so every step and every
recovery path of it can be read together (step 2's transaction is
``services.live.payment_starts``; the order's, the same for every path, is
``services.live.order_writes``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from time import perf_counter
from typing import Any

from dropline.domain.errors import (
    Conflict,
    DroplineError,
    DropNotLive,
    HoldNotOwned,
    InvalidInput,
    LimitExceeded,
    NotFound,
    PaymentDeclined,
    PaymentProviderError,
    SoldOut,
)
from dropline.domain.events import DomainEvent
from dropline.domain.fulfilment.rules import ShipTo
from dropline.domain.ids import new_id
from dropline.domain.live.holds import Hold, HoldItem, HoldStatus, ItemKind
from dropline.domain.live.orders import (
    FINAL_CHECKOUT,
    CheckoutStatus,
)
from dropline.services.context import actor as current_actor
from dropline.services.live.drop_catalog import DropCatalogCache
from dropline.services.live.drops import DropService
from dropline.services.live.order_writes import (
    CheckoutResult,
    LedgerRefused,
    OnPaid,
    OrderHooks,
    OrderJob,
    OrderWriter,
    commit_batch,
)
from dropline.services.live.payment_starts import (
    OPEN_CHECKOUT,
    OnStarted,
    PaymentStarts,
    Started,
    StartJob,
    authorization,
    price_lines,
)
from dropline.services.platform.metrics import SLOW_BUCKETS, metrics
from dropline.services.ports import (
    Clock,
    DropNotLoaded,
    PaymentProvider,
    PaymentResult,
    PaymentStatus,
    StockEngine,
)
from dropline.services.stock.ledger import offer_again
from dropline.services.supply.preorders import PreorderService
from dropline.store.group_commit import GroupCommit
from dropline.store.live.order_records import CheckoutRecord, OrderLine
from dropline.store.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)

MAX_PAYMENT_METHOD = 80


# Why a payment was given back (``failure_reason``): the units were gone, or taking
# them afresh would have put the buyer over a per-buyer limit.
SOLD_OUT_WHILE_PAYING = "sold out while the payment was processed"
NO_UNIT_IN_LEDGER = "the ledger had no unit left"
OVER_LIMIT_WHILE_PAYING = "over the per-buyer limit when the payment went through"


class Secured(Enum):
    """How a finisher secured a checkout's units in the engine."""

    CONVERTED = "converted"  # the hold's own units
    TAKEN = "taken"  # afresh, the hold having expired or been lost


class CheckoutService:
    def __init__(
        self,
        uow: UowFactory,
        engine: StockEngine,
        provider: PaymentProvider,
        cache: DropCatalogCache,
        drops: DropService,
        clock: Clock,
        paying_cap_s: int = 300,
        preorders: PreorderService | None = None,
        *,
        claim_lease_s: float = 30.0,
        finish_wait_s: float = 5.0,
        order_prefix: str = "DL",
        group_commit: bool = False,
    ) -> None:
        """``claim_lease_s``: how long a finisher's claim on a checkout keeps others off
        it (after that, recovery or a webhook takes over; ``DROPLINE_RECOVER_AFTER_S``).
        ``finish_wait_s``: how long a finisher that lost the claim waits for the
        winner's result before answering "still in progress". ``group_commit``: paid
        orders that arrive together share one transaction (``DROPLINE_GROUP_COMMIT``;
        see ``_complete`` and ``store.group_commit``)."""
        self.uow = uow
        self.engine = engine
        self.cache = cache
        self.drops = drops
        self.clock = clock
        self.paying_cap_s = paying_cap_s
        self.preorders = preorders
        self.claim_lease_s = claim_lease_s
        self.finish_wait_s = finish_wait_s
        self.order_writer = OrderWriter(uow, preorders, order_prefix, provider)
        self.payment_starts = PaymentStarts(
            uow, engine, clock, provider, paying_cap_s, group_commit=group_commit
        )
        self.provider = provider
        self.writer: GroupCommit[UnitOfWork, OrderJob, CheckoutResult] | None = None
        if group_commit:
            self.writer = GroupCommit(uow, self.order_writer.write_batch, commit_batch)
        # In-process sums, flushed to the shared instruments (as the holds' are): a
        # multi-process counter takes a lock and checks the pid on every increment.
        m = metrics()
        self._outcomes = m.tallies(m.checkouts.labels)
        self._seconds = m.timings(m.checkout_seconds, SLOW_BUCKETS)
        self._orders_written = m.tally(m.orders)

    @property
    def provider(self) -> PaymentProvider:
        """The payment provider (payment starts and the order writer use the same)."""
        return self.order_writer.provider

    @provider.setter
    def provider(self, provider: PaymentProvider) -> None:
        self.order_writer.provider = provider
        self.payment_starts.provider = provider

    @property
    def starter(self) -> GroupCommit[UnitOfWork, StartJob, Started] | None:
        """The payment starts' group-commit writer (None with group commit off)."""
        return self.payment_starts.writer

    @property
    def hooks(self) -> OrderHooks | None:
        """Fulfilment's part of checkout's transactions (the ship-to, the hand-off)."""
        return self.order_writer.hooks

    @hooks.setter
    def hooks(self, hooks: OrderHooks | None) -> None:
        self.order_writer.hooks = hooks
        self.payment_starts.hooks = hooks

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # ------------------------------------------------------------------ entry points
    async def start(
        self,
        hold_id: str,
        buyer_id: str,
        payment_method: str,
        ship_to: ShipTo | None = None,
        *,
        on_paid: OnPaid | None = None,
        on_started: OnStarted | None = None,
        hold: Hold | None = None,
    ) -> CheckoutResult:
        """``_start``, counted in the metrics by outcome (``succeeded``,
        ``requires_action``, or the refusal's problem code) and timed. ``hold``: the
        hold's snapshot when the caller just read it (the API's access check), so the
        engine is not asked twice; the engine's ``start_payment`` decides anyway."""
        t0 = perf_counter()
        try:
            result = await self._start(
                hold_id,
                buyer_id,
                payment_method,
                ship_to,
                on_paid=on_paid,
                on_started=on_started,
                hold=hold,
            )
        except DroplineError as exc:
            self._outcomes[exc.code].inc()
            self._seconds.observe(perf_counter() - t0)
            raise
        self._outcomes["succeeded" if result.order else "requires_action"].inc()
        self._seconds.observe(perf_counter() - t0)
        return result

    async def _start(
        self,
        hold_id: str,
        buyer_id: str,
        payment_method: str,
        ship_to: ShipTo | None = None,
        *,
        on_paid: OnPaid | None = None,
        on_started: OnStarted | None = None,
        hold: Hold | None = None,
    ) -> CheckoutResult:
        """Pay for a hold. Raises ``PaymentDeclined`` (recorded first) on a decline and
        ``SoldOut`` when the units were gone by the time the payment went through.
        ``ship_to`` (optional) is stored with the checkout and becomes the order's.
        ``on_started`` runs inside the transaction that records the checkout, before
        the provider is called. ``on_paid`` runs inside the order's own transaction,
        only when this call writes the order (not on 3-D Secure, a refusal, or another
        finisher's order, which is returned as this call's answer)."""
        payment_method = payment_method.strip()
        if not payment_method or len(payment_method) > MAX_PAYMENT_METHOD:
            raise InvalidInput("payment_method is required (a token or test card number)")
        ship_to = ship_to.validated() if ship_to is not None else None
        if hold is None or hold.id != hold_id:
            hold = await self.engine.get_hold(hold_id)
        if hold is None:
            raise NotFound(f"hold {hold_id} not found; it may have expired", hold_id=hold_id)
        if hold.buyer_id != buyer_id:
            raise HoldNotOwned("this hold belongs to another buyer")
        catalog = await self.cache.get(hold.drop_id)  # outside the write transaction
        job = StartJob(hold, payment_method, ship_to, on_started, catalog)
        checkout, lines, paid = await self.payment_starts.record(job)
        result = paid if paid is not None else await self._authorize(checkout)
        if isinstance(result, Exception):
            raise result
        # This call created the checkout: it holds the claim on it from the start.
        settled = await self._settle(checkout, result, lines, on_paid, owned=True)
        return self._answer(settled, checkout.id)

    async def confirm(self, checkout_id: str, buyer_id: str) -> CheckoutResult:
        """Finish a payment that needed the buyer's action (3-D Secure).

        Safe to repeat and to race with the provider's webhook: a checkout that another
        finisher is finishing or has turned into an order answers with that result (the
        order), never an error for a payment that went through. ``Conflict`` when there
        is nothing to confirm (the checkout failed or was given back), or when the other
        finisher is still busy after ``finish_wait_s``."""
        checkout = await self.get(checkout_id, buyer_id)
        if checkout.status is CheckoutStatus.PROCESSING:
            waited = await self._outcome(checkout.id)
            if waited is None or waited.checkout.status is not CheckoutStatus.REQUIRES_ACTION:
                return self._answer(waited, checkout.id)
            checkout = waited.checkout
        if checkout.status is CheckoutStatus.SUCCEEDED:
            return await self._result_for(checkout.id)
        if checkout.status is not CheckoutStatus.REQUIRES_ACTION:
            raise Conflict(
                f"the checkout is {checkout.status}, nothing to confirm", status=checkout.status
            )
        assert checkout.payment_id is not None
        result = await self.provider.confirm(
            checkout.payment_id, idempotency_key=f"{checkout.id}:confirm"
        )
        if result.status in (PaymentStatus.VOIDED, PaymentStatus.REFUNDED):
            # Given back meanwhile, by a finisher that raced this one (the units were gone)
            # or at the provider: answer as that finisher did, never a provider error.
            current = await self.get(checkout.id)
            if current.status is CheckoutStatus.PROCESSING:
                return self._answer(await self._outcome(checkout.id), checkout.id)
            if current.status in FINAL_CHECKOUT:
                return self._answer(await self._result_for(checkout.id), checkout.id)
            finished = await self._from_provider(current, result, owned=False)
            return self._answer(finished, checkout.id)
        settled = await self._settle(checkout, result, await self._lines_for(checkout))
        return self._answer(settled, checkout.id)

    async def get(self, checkout_id: str, buyer_id: str | None = None) -> CheckoutRecord:
        async with self.uow(readonly=True) as uow:
            checkout = await uow.orders.get_checkout(checkout_id)
        if checkout is None:
            raise NotFound(f"checkout {checkout_id} not found")
        if buyer_id is not None and checkout.buyer_id != buyer_id:
            raise HoldNotOwned("this checkout belongs to another buyer")
        return checkout

    async def answer(self, checkout_id: str, buyer_id: str) -> CheckoutResult | None:
        """What ``start`` answers for this checkout now, for a retry of the request that
        started it (and did not see it through: it failed, or its process died): the
        order once paid, the 3-D Secure step while the buyer has not finished it
        (``next_action`` asked from the provider again), None while a finisher is on it.
        A checkout that failed or was given back comes back without order or next
        action: there is nothing to repeat, a retry pays afresh."""
        checkout = await self.get(checkout_id, buyer_id)
        if checkout.status is CheckoutStatus.PROCESSING:
            return None
        if checkout.status is CheckoutStatus.REQUIRES_ACTION and checkout.payment_id:
            payment = await self.provider.retrieve(checkout.payment_id)
            return CheckoutResult(checkout, None, dict(payment.next_action or {}))
        return await self._result_for(checkout_id)

    async def complete_from_provider(
        self, checkout_id: str, result: PaymentResult, *, grace_s: float | None = None
    ) -> CheckoutResult | None:
        """Finish a checkout from the provider's word (an incoming payment webhook).

        ``result`` is the payment as the provider has it *now* (retrieved, not taken from
        the event body), so duplicate and out-of-order deliveries all lead to the same
        answer. The same steps as ``start`` and ``recover`` run: an authorised or captured
        payment becomes the order (or is voided/refunded when the units are gone), a
        decline is recorded (``PaymentDeclined``), 3-D Secure still pending leaves the
        checkout waiting. Idempotent: a checkout already final is returned as it is.

        A ``processing`` checkout younger than ``grace_s`` (default: the claim lease) is
        being finished by another finisher (the request that started it, the buyer's
        confirm): its result is awaited and returned. Returns None (do nothing yet) when
        it is not ready within ``finish_wait_s``; the provider retries the webhook later
        and ``recover`` finishes it anyway. Raises ``Conflict`` when the payment does not
        match the checkout."""
        grace = self.claim_lease_s if grace_s is None else grace_s
        checkout = await self.get(checkout_id)
        if checkout.status in FINAL_CHECKOUT:
            return await self._result_for(checkout_id)
        if checkout.payment_id and checkout.payment_id != result.payment_id:
            raise Conflict(
                "the payment does not belong to this checkout",
                checkout_id=checkout_id,
                payment_id=result.payment_id,
            )
        if result.amount != checkout.amount or result.currency != checkout.currency:
            raise Conflict(
                "the payment amount does not match the checkout",
                checkout_id=checkout_id,
                payment_id=result.payment_id,
            )
        if checkout.status is CheckoutStatus.PROCESSING and checkout.updated_at > (
            self._now() - timedelta(seconds=grace)
        ):
            waited = await self._outcome(checkout_id)
            if waited is None or waited.checkout.status in FINAL_CHECKOUT:
                return waited
            checkout = waited.checkout  # back to waiting for 3-D Secure: go on from there
        return await self._from_provider(checkout, result, owned=False)

    # ------------------------------------------------------------------ steps
    async def _authorize(self, checkout: CheckoutRecord) -> PaymentResult:
        call = authorization(checkout)
        return await self.provider.authorize(
            amount=call.amount,
            currency=call.currency,
            payment_method=call.payment_method,
            idempotency_key=call.idempotency_key,
            metadata=call.metadata,
        )

    async def _lines_for(self, checkout: CheckoutRecord) -> list[OrderLine]:
        catalog = await self.cache.get(checkout.drop_id)
        hold = await self.engine.get_hold(checkout.hold_id)
        if hold is not None:
            return price_lines(hold, catalog)
        # The engine forgot the hold (restart): rebuild the lines from the checkout.
        items = tuple(
            HoldItem(ItemKind(i["kind"]), i["ref"], int(i["quantity"])) for i in checkout.items
        )
        ghost = Hold(
            checkout.hold_id,
            checkout.drop_id,
            checkout.buyer_id,
            items,
            checkout.units,
            HoldStatus.EXPIRED,
            0.0,
            0.0,
        )
        return price_lines(ghost, catalog)

    async def _from_provider(
        self, checkout: CheckoutRecord, result: PaymentResult, *, owned: bool
    ) -> CheckoutResult | None:
        """Finish ``checkout`` from the payment's current state at the provider."""
        if result.status in (PaymentStatus.VOIDED, PaymentStatus.REFUNDED):
            await self._finish(
                checkout,
                CheckoutStatus(result.status.value),
                event=f"checkout.{result.status.value}",
                payment_id=result.payment_id,
                failure_reason="the payment was cancelled at the provider",
            )
            return await self._result_for(checkout.id)
        return await self._settle(checkout, result, await self._lines_for(checkout), owned=owned)

    async def _settle(
        self,
        checkout: CheckoutRecord,
        result: PaymentResult,
        lines: list[OrderLine],
        on_paid: OnPaid | None = None,
        *,
        owned: bool = False,
    ) -> CheckoutResult | None:
        """Act on the provider's answer. ``owned``: the caller holds the checkout's
        claim already (it created or claimed it). None when another finisher won and
        had no result within ``finish_wait_s``."""
        if result.status is PaymentStatus.DECLINED:
            failed = await self._finish(
                checkout,
                CheckoutStatus.FAILED,
                payment_id=result.payment_id,
                decline_code=result.decline_code or "declined",
                failure_reason=result.message or "the card was declined",
                event="checkout.payment_failed",
            )
            raise PaymentDeclined(
                failed.failure_reason or "the card was declined",
                decline_code=failed.decline_code,
                checkout_id=failed.id,
            )
        if result.status is PaymentStatus.REQUIRES_ACTION:
            action = dict(result.next_action or {})
            if checkout.status is CheckoutStatus.REQUIRES_ACTION:
                return CheckoutResult(checkout, None, action)
            waiting = await self._wait_for_buyer(checkout, result.payment_id)
            if waiting is not None:
                return CheckoutResult(waiting, None, action)
            # Another finisher claimed it meanwhile: its result is the answer.
            other = await self._outcome(checkout.id)
            if other is not None and other.checkout.status is CheckoutStatus.REQUIRES_ACTION:
                return CheckoutResult(other.checkout, None, action)
            return other
        if result.status not in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED):
            raise PaymentProviderError(f"unexpected payment status {result.status}")
        return await self._finish_paid(checkout, result, lines, on_paid, owned=owned)

    async def _wait_for_buyer(
        self, checkout: CheckoutRecord, payment_id: str
    ) -> CheckoutRecord | None:
        """``processing`` → ``requires_action`` (compare-and-set on the version the
        caller holds); None when another finisher changed the checkout first."""
        async with self.uow() as uow:
            try:
                waiting = await uow.orders.update_checkout(
                    checkout, CheckoutStatus.REQUIRES_ACTION, payment_id=payment_id
                )
            except Conflict:
                return None
            await uow.commit()
        return waiting

    async def _finish_paid(
        self,
        checkout: CheckoutRecord,
        auth: PaymentResult,
        lines: list[OrderLine],
        on_paid: OnPaid | None,
        *,
        owned: bool,
    ) -> CheckoutResult | None:
        """An authorised (or captured) payment: claim the checkout, secure the units,
        capture and write the order (steps 4-6 of the module docstring). A finisher that
        loses the claim returns the winner's result (None if it has none within
        ``finish_wait_s``) and has touched neither the engine nor the money."""
        claimed = await self._claim(checkout, owned=owned)
        if claimed is None:
            return await self._outcome(checkout.id)
        try:
            took = await self._secure_units(claimed)
        except LimitExceeded as exc:
            # A late payment's units taken afresh would pass the buyer's limit (they
            # bought or hold others meanwhile): given back like a sold-out one.
            await self._give_back(claimed, auth, OVER_LIMIT_WHILE_PAYING)
            raise LimitExceeded(
                "you reached the per-buyer limit while your payment was processed; "
                "you were not charged",
                checkout_id=claimed.id,
                **exc.extra,
            ) from exc
        if took is None:
            await self._give_back(claimed, auth, SOLD_OUT_WHILE_PAYING)
            raise SoldOut(
                "the items sold out while your payment was processed; you were not charged",
                checkout_id=claimed.id,
            )
        try:
            done = await self._complete(claimed, auth, lines, on_paid)
        except LedgerRefused:
            # Not given back: the engine counted units the ledger does not have, and
            # keeping them taken brings it closer to the ledger, as for a converted hold.
            raise
        except Exception:
            # Whoever finishes the checkout later takes its units again.
            if took is Secured.TAKEN:
                await self._return_units(claimed)
            raise
        if done is None:
            if took is Secured.TAKEN:
                await self._return_units(claimed)
            return await self._outcome(checkout.id)
        return done

    async def _claim(self, checkout: CheckoutRecord, *, owned: bool) -> CheckoutRecord | None:
        """Make this call the checkout's one finisher: compare-and-set on the version the
        caller read (``OrderRepository.claim_checkout``). The claimed record, or None
        when another finisher changed the checkout first. A caller that holds the claim
        already (``owned``) keeps it without a write while more than half its lease is
        left, and renews it otherwise."""
        if owned and checkout.status is CheckoutStatus.PROCESSING:
            held_s = (self._now() - checkout.updated_at).total_seconds()
            if held_s < self.claim_lease_s / 2:
                return checkout
        async with self.uow() as uow:
            claimed = await uow.orders.claim_checkout(checkout.id, checkout.version, OPEN_CHECKOUT)
            await uow.commit()
        return claimed

    async def _outcome(self, checkout_id: str) -> CheckoutResult | None:
        """The checkout once the finisher holding it is done with it: polls while it is
        ``processing``, up to ``finish_wait_s``; None if it still is then."""
        deadline = time.monotonic() + self.finish_wait_s
        pause = 0.01
        while True:
            result = await self._result_for(checkout_id)
            if result.checkout.status is not CheckoutStatus.PROCESSING:
                return result
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)

    @staticmethod
    def _answer(result: CheckoutResult | None, checkout_id: str) -> CheckoutResult:
        """What ``start`` and ``confirm`` return. A finisher that lost the claim answers
        with the winner's result: the order, or the error the winner's caller got."""
        if result is None:
            raise Conflict(
                "the payment is still being finished; ask again in a moment",
                checkout_id=checkout_id,
            )
        checkout = result.checkout
        if checkout.status is CheckoutStatus.FAILED:
            raise PaymentDeclined(
                checkout.failure_reason or "the card was declined",
                decline_code=checkout.decline_code,
                checkout_id=checkout.id,
            )
        if checkout.status in (CheckoutStatus.VOIDED, CheckoutStatus.REFUNDED):
            if checkout.failure_reason == OVER_LIMIT_WHILE_PAYING:
                raise LimitExceeded(
                    "you reached the per-buyer limit while your payment was processed; "
                    f"it was {checkout.status}",
                    checkout_id=checkout.id,
                )
            if checkout.failure_reason in (SOLD_OUT_WHILE_PAYING, NO_UNIT_IN_LEDGER):
                raise SoldOut(
                    "the items sold out while your payment was processed; "
                    f"it was {checkout.status}",
                    checkout_id=checkout.id,
                )
            raise Conflict(
                f"the payment was {checkout.status}: {checkout.failure_reason}",
                checkout_id=checkout.id,
                status=checkout.status,
            )
        return result

    async def _secure_units(self, checkout: CheckoutRecord) -> Secured | None:
        """Make the engine count the units as sold: convert the hold, or take the units
        afresh when the hold expired or was lost. None when they are gone;
        ``LimitExceeded`` when taking them would pass the buyer's limit."""
        now = self.clock.now()
        try:
            if await self.engine.convert(checkout.hold_id, now) is not None:
                return Secured.CONVERTED
            return await self._take(checkout)
        except DropNotLoaded:
            try:
                await self.drops.rebuild(checkout.drop_id)
            except (NotFound, DropNotLive):
                return None  # the drop ended meanwhile: nothing left to sell
            try:
                return await self._take(checkout)
            except DropNotLoaded:
                return None  # the drop is no longer live: nothing left to sell

    async def _take(self, checkout: CheckoutRecord) -> Secured | None:
        taken = await self.engine.take(checkout.drop_id, checkout.buyer_id, checkout.units)
        return Secured.TAKEN if taken else None

    async def _return_units(self, checkout: CheckoutRecord) -> None:
        """Give units this finisher took afresh back to the drop in the engine, and take
        them off the buyer's usage: it did not write the order, and whoever finishes the
        checkout takes them again."""
        try:
            async with self.uow(readonly=True) as uow:
                offers = await uow.drops.offers(checkout.drop_id)
            await offer_again(
                self.engine, checkout.drop_id, checkout.units, offers, buyer_id=checkout.buyer_id
            )
        except Exception:
            log.exception("checkout %s: units taken afresh were not given back", checkout.id)

    async def _complete(
        self,
        checkout: CheckoutRecord,
        auth: PaymentResult,
        lines: list[OrderLine],
        on_paid: OnPaid | None = None,
    ) -> CheckoutResult | None:
        """Capture, then write the order, for the finisher holding ``checkout``'s claim
        (its units secured). None when the claim was lost meanwhile (its lease ran out
        and another finisher took over): nothing was written.

        With group commit on (``DROPLINE_GROUP_COMMIT``), the order goes to this
        process's writer and shares a transaction with the orders queued beside it
        (``OrderWriter.write_batch``); a batch that could not be written as a whole is
        rolled back and this order is then written alone, exactly as with group commit
        off. Orders of drops with pre-orders are always written alone (their promises
        lock the production runs' rows, which a batch would take in no fixed order), and
        so are orders paid on behalf of an operator (their events are audited under
        that operator, in the transaction of the request that made them)."""
        payment_id = auth.payment_id
        # Pre-orders paid by authorisation are captured when they ship, not now.
        catalog = await self.cache.get(checkout.drop_id)
        cached = catalog.preorders
        capture_now = self.preorders is None or self.preorders.captures_now(checkout.units, cached)
        capture_key = None
        if auth.status is PaymentStatus.AUTHORIZED and capture_now:
            capture_key = f"{checkout.id}:capture"
        writer = self.writer if not cached and current_actor.get() is None else None
        if capture_key is not None and not (
            writer is not None and self.order_writer.captures_in_batch
        ):
            auth = await self.provider.capture(payment_id, idempotency_key=capture_key)
            capture_key = None
        job = OrderJob(
            checkout, auth, lines, on_paid, catalog, new_id("ord"), self._now(), capture_key
        )
        if writer is not None:
            done = await writer.submit(job)
            if done is not None:
                self._orders_written.inc()
                return done
            if capture_key is not None:  # rolled back with its batch: captured alone
                auth = await self.provider.capture(payment_id, idempotency_key=capture_key)
                job = replace(job, auth=auth, capture_key=None)
        return await self._write_alone(job)

    async def _write_alone(self, job: OrderJob) -> CheckoutResult | None:
        """``OrderWriter.write_alone``; a sale the ledger refused gives the payment back
        before the refusal reaches the buyer."""
        try:
            done = await self.order_writer.write_alone(job)
        except LedgerRefused:
            await self._give_back(job.checkout, job.auth, NO_UNIT_IN_LEDGER)
            raise
        if done is not None:
            self._orders_written.inc()
        return done

    async def _give_back(self, checkout: CheckoutRecord, auth: PaymentResult, why: str) -> None:
        """Void an authorisation or refund a capture, and record why. Never for a
        checkout another finisher already turned into an order."""
        async with self.uow(readonly=True) as uow:
            current = await uow.orders.get_checkout(checkout.id)
        if current is not None and current.status is CheckoutStatus.SUCCEEDED:
            log.warning("checkout %s: not giving back, it is already an order", checkout.id)
            return
        if auth.status is PaymentStatus.CAPTURED:
            await self.provider.refund(auth.payment_id, idempotency_key=f"{checkout.id}:refund")
            metrics().refunds.labels(
                "limit" if why == OVER_LIMIT_WHILE_PAYING else "sold_out"
            ).inc()
            status = CheckoutStatus.REFUNDED
        else:
            await self.provider.void(auth.payment_id, idempotency_key=f"{checkout.id}:void")
            status = CheckoutStatus.VOIDED
        await self._finish(
            checkout,
            status,
            payment_id=auth.payment_id,
            failure_reason=why,
            event=f"checkout.{status.value}",
        )
        log.warning("checkout %s %s: %s", checkout.id, status.value, why)

    async def _finish(
        self, checkout: CheckoutRecord, status: CheckoutStatus, *, event: str, **values: Any
    ) -> CheckoutRecord:
        async with self.uow() as uow:
            current = await uow.orders.get_checkout(checkout.id, lock=True)
            assert current is not None
            if current.status in FINAL_CHECKOUT:
                return current
            updated = await uow.orders.update_checkout(current, status, **values)
            uow.record(
                DomainEvent(
                    event,
                    "checkout",
                    checkout.id,
                    updated.version,
                    {
                        "hold_id": checkout.hold_id,
                        "drop_id": checkout.drop_id,
                        "status": status.value,
                        "decline_code": updated.decline_code,
                        "reason": updated.failure_reason,
                        "amount": checkout.amount,
                        "currency": checkout.currency,
                    },
                )
            )
            await uow.commit()
        return updated

    async def _result_for(self, checkout_id: str) -> CheckoutResult:
        async with self.uow(readonly=True) as uow:
            checkout = await uow.orders.get_checkout(checkout_id)
            assert checkout is not None
            order = await uow.orders.get_order(checkout.order_id) if checkout.order_id else None
        return CheckoutResult(checkout, order)

    # ------------------------------------------------------------------ recovery
    async def recover(self, older_than_s: float = 30.0) -> list[str]:
        """Finish checkouts left ``processing`` by a crash (a claim that outlived its
        lease), and abandon 3-D Secure challenges that outlived the paying cap. Safe to
        run from any number of workers and beside the other finishers: each checkout is
        claimed first, and only its claimant touches the engine or the money."""
        now = self._now()
        touched: list[str] = []
        async with self.uow() as uow:
            stuck = await uow.orders.stale_checkouts(
                [CheckoutStatus.PROCESSING], now - timedelta(seconds=older_than_s)
            )
            waiting = await uow.orders.stale_checkouts(
                [CheckoutStatus.REQUIRES_ACTION],
                now - timedelta(seconds=self.paying_cap_s + older_than_s),
            )
            # Claimed in the transaction that found them (on PostgreSQL the rows were read
            # FOR UPDATE SKIP LOCKED, so other workers skip them): the lease then keeps
            # other finishers off them while this worker finishes them.
            claimed: list[CheckoutRecord] = []
            for found in stuck + waiting:
                mine = await uow.orders.claim_checkout(found.id, found.version, OPEN_CHECKOUT)
                if mine is not None:
                    claimed.append(mine)
            await uow.commit()
        abandoned = {ch.id for ch in waiting}
        for checkout in claimed:
            try:
                if checkout.id in abandoned:
                    await self._abandon(checkout)
                else:
                    await self._recover_one(checkout)
            except (PaymentDeclined, SoldOut, LimitExceeded, Conflict):
                pass
            except Exception:  # keep recovering the others
                log.exception("recovering checkout %s failed", checkout.id)
                continue
            touched.append(checkout.id)
        return touched

    async def _recover_one(self, checkout: CheckoutRecord) -> None:
        if checkout.payment_id:
            # Claimed back from 3-D Secure: the payment's current state, not the first
            # answer (which a repeated authorisation would replay).
            result = await self.provider.retrieve(checkout.payment_id)
        else:
            result = await self._authorize(checkout)  # same key: same answer
        await self._from_provider(checkout, result, owned=True)

    async def _abandon(self, checkout: CheckoutRecord) -> None:
        if checkout.payment_id:
            await self.provider.void(checkout.payment_id, idempotency_key=f"{checkout.id}:void")
        await self._finish(
            checkout,
            CheckoutStatus.FAILED,
            event="checkout.payment_failed",
            decline_code="authentication_abandoned",
            failure_reason="the buyer did not complete the card authentication in time",
        )

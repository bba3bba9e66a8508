"""Auto-charge on the waitlist: a buyer saves a payment method when joining, and it is
charged the moment a unit is allocated to them (a claim hold placed for them).

Joining with a method (``join``): the provider sets it up for off-session use first
(Stripe: a Customer and a SetupIntent with ``usage=off_session``; the sandbox: a token
whose test card says what its charges do), so a card refused then changes nothing;
then the buyer joins as anyone does and the token goes on the entry while it waits.

On allocation (``charge``, called by ``WaitlistServing._offer`` instead of sending the
claim link) the claim hold is paid through the normal checkout
(``CheckoutService.start`` with the saved token): the order, the sale movement, the
per-buyer limit, the idempotency and the events are a normal checkout's. Then:

- paid: the entry is ``claimed`` (``auto_charge`` ``succeeded``) and the buyer gets a
  message naming the order;
- declined (including a bank asking for authentication the absent buyer cannot give)
  or the units refused (sold out, over a limit: the payment is given back): the entry
  is ``lost`` (``auto_charge`` ``failed``, why in ``charge_error``), its hold is
  released and the unit goes to the next in line by the waitlist's own pass-on path;
  the buyer gets a message saying so.

Exactly one charge per entry, whatever the number of workers: the entry's move to
``charging`` is a compare-and-set on the version read while it was ``offered`` and not
charged, made inside the transaction that records the checkout (checkout's
``on_started``, before the provider is called). A second worker's checkout is refused
there (or earlier, by checkout's own "a payment for this hold is already in
progress"), and so is a charge for a buyer who left the line meanwhile: no checkout is
recorded, nothing is charged. Leaving while a charge runs is refused (409).

``run_once`` (a background job) finishes what a crash left: an offered entry whose
charge never started is charged, a ``charging`` entry whose checkout was finished by
checkout recovery or a webhook gets its outcome, and the saved method of every entry
that left the line is detached at the provider.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime
from typing import Any

from dropline.domain.errors import (
    Conflict,
    DroplineError,
    InvalidInput,
    LimitExceeded,
    PaymentDeclined,
    SoldOut,
)
from dropline.domain.ids import new_id
from dropline.domain.inputs import check_text
from dropline.domain.live.orders import CheckoutStatus
from dropline.domain.live.waitlist import OPEN_STATES, EntryStatus
from dropline.domain.money import format_money
from dropline.services.fulfilment.messages import message_values
from dropline.services.live.checkout import CheckoutService
from dropline.services.live.order_writes import CheckoutResult
from dropline.services.live.waitlist import WaitlistService
from dropline.services.live.waitlist_serving import WaitlistServing
from dropline.services.ports import (
    Clock,
    PaymentProvider,
    SavesPaymentMethods,
    StockEngine,
)
from dropline.store.live.order_records import CheckoutRecord
from dropline.store.live.waitlist_repo import Row
from dropline.store.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)

#: The ``messages.kind`` of the word to the buyer after an auto-charge.
CHARGED_KIND = "waitlist_charged"
CHARGE_FAILED_KIND = "waitlist_charge_failed"

#: ``charge_status`` of an entry: the charge started, went through, or did not.
CHARGING, SUCCEEDED, FAILED = "charging", "succeeded", "failed"

MAX_PAYMENT_METHOD = 80
_GIVEN_BACK = (CheckoutStatus.FAILED, CheckoutStatus.VOIDED, CheckoutStatus.REFUNDED)


class _NotThisCharge(Exception):
    """The entry changed between reading it and recording the checkout (another
    worker's charge, or the buyer left): this checkout must not be recorded."""


def _message(row: Row, kind: str, subject: str, text: str, now: datetime) -> dict[str, Any]:
    return message_values(
        event_id=row["id"],
        kind=kind,
        to=str(row["email"] or ""),
        subject=subject,
        text=text,
        html="".join(f"<p>{html.escape(p)}</p>" for p in text.strip().split("\n\n")),
        now=now,
        no_address="no email address on the waitlist entry",
    )


class WaitlistAutocharge:
    def __init__(
        self,
        uow: UowFactory,
        engine: StockEngine,
        waitlist: WaitlistService,
        serving: WaitlistServing,
        checkout: CheckoutService,
        provider: PaymentProvider,
        clock: Clock,
        shop_name: str = "dropline",
    ) -> None:
        self.uow = uow
        self.engine = engine
        self.waitlist = waitlist
        self.serving = serving
        self.checkout = checkout
        self.provider = provider
        self.clock = clock
        self.shop_name = shop_name

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    def _saver(self) -> SavesPaymentMethods:
        if not isinstance(self.provider, SavesPaymentMethods):
            raise Conflict(
                f"the payment provider {self.provider.name!r} cannot save payment methods",
                field="payment_method",
            )
        return self.provider

    # ------------------------------------------------------------------ buyers

    async def join(
        self,
        drop_id: str,
        sku_id: str,
        buyer_id: str,
        email: str,
        payment_method: str,
        *,
        tiers: frozenset[str] = frozenset(),
    ) -> tuple[dict[str, Any], bool]:
        """Join the SKU's line with a payment method saved for the auto-charge; (the
        entry, True if this call added it). The method is set up first: refused
        (``PaymentDeclined``, 402) or unusable (``InvalidInput``), nothing changes.
        Joining again while waiting replaces the saved method; once a unit is held for
        the buyer (offered) the entry is returned as it is and the new method is not
        kept. Whatever ``WaitlistService.join`` refuses is refused the same way."""
        method = payment_method.strip()
        check_text(method, "payment_method")
        if not method or len(method) > MAX_PAYMENT_METHOD:
            raise InvalidInput(
                f"payment_method must be 1 to {MAX_PAYMENT_METHOD} characters",
                field="payment_method",
            )
        saver = self._saver()
        async with self.uow(readonly=True) as uow:
            existing = await uow.waitlist.open_entry(drop_id, sku_id, buyer_id)
        if existing is not None and existing["status"] != EntryStatus.WAITING.value:
            return await self.waitlist.join(drop_id, sku_id, buyer_id, email, tiers=tiers)
        saved = await saver.save_method(
            payment_method=method,
            idempotency_key=new_id("wls"),
            metadata={"drop_id": drop_id, "sku_id": sku_id, "buyer_id": buyer_id[:200]},
        )
        try:
            entry, added = await self.waitlist.join(drop_id, sku_id, buyer_id, email, tiers=tiers)
        except BaseException:
            await self._forget_token(saved.token)
            raise
        async with self.uow() as uow:
            before = await uow.waitlist.get(entry["id"])
            row = await uow.waitlist.save_token(entry["id"], saved.token)
            if row is not None:
                uow.audit(
                    "waitlist.card_saved",
                    "waitlist_entry",
                    entry["id"],
                    after={"last4": saved.last4, "brand": saved.brand},
                )
            await uow.commit()
        if row is None:  # a unit was offered meanwhile: the claim link stands instead
            await self._forget_token(saved.token)
            return entry, added
        if before is not None and before["payment_token"]:
            await self._forget_token(before["payment_token"])  # replaced
        return await self.waitlist.view(row), added

    async def forget(self, entry_id: str) -> None:
        """Detach the entry's saved method at the provider and take it off the entry
        (leaving the line, a finished charge). Never fails the caller: a method the
        provider could not detach now is detached by ``run_once`` later."""
        async with self.uow(readonly=True) as uow:
            row = await uow.waitlist.get(entry_id)
        if row is None or not row["payment_token"]:
            return
        if row["charge_status"] == CHARGING:
            return  # the checkout still needs it (recovery repeats the same call)
        try:
            await self._saver().forget_method(row["payment_token"])
        except Exception:
            log.warning("waitlist entry %s: saved method not detached yet", entry_id)
            return
        async with self.uow() as uow:
            await uow.waitlist.change(row["id"], row["version"], payment_token=None)
            await uow.commit()

    async def _forget_token(self, token: str) -> None:
        try:
            await self._saver().forget_method(token)
        except Exception:
            log.exception("a saved payment method could not be detached")

    # ------------------------------------------------------------------ the charge

    async def charge(self, entry_id: str) -> bool:
        """Pay the entry's claim hold with its saved method (see the module docstring).
        True while the unit stays the buyer's (paid, or another worker's charge is on
        it, or the outcome is not known yet: ``run_once`` settles it); False when the
        charge failed or the claim is gone, its unit back for the next in line."""
        async with self.uow(readonly=True) as uow:
            row = await uow.waitlist.get(entry_id)
        if row is None or row["status"] != EntryStatus.OFFERED.value or not row["hold_id"]:
            return False
        if row["charge_status"] is not None or not row["payment_token"]:
            return bool(row["charge_status"] != FAILED)
        version = row["version"]

        async def claim_entry(uow: UnitOfWork, checkout: CheckoutRecord) -> None:
            if not await uow.waitlist.change(
                entry_id, version, charge_status=CHARGING, charge_checkout_id=checkout.id
            ):
                raise _NotThisCharge(entry_id)

        try:
            result = await self.checkout.start(
                row["hold_id"], row["buyer_id"], row["payment_token"], on_started=claim_entry
            )
        except (_NotThisCharge, Conflict):
            return True  # another worker charges it, or the buyer left (the hold went)
        except (PaymentDeclined, SoldOut, LimitExceeded) as exc:
            await self._failed(entry_id, str(exc.extra.get("decline_code") or exc.code), exc.detail)
            return False
        except DroplineError as exc:
            # The hold is gone (expired, released): the line's next pass settles it.
            log.info("waitlist entry %s not charged: %s", entry_id, exc)
            return False
        except Exception:
            # The provider was unreachable or the like: the checkout (if recorded) is
            # finished by checkout recovery and its outcome picked up by run_once.
            log.exception("waitlist entry %s: auto-charge interrupted", entry_id)
            return True
        if result.order is None:
            log.warning("waitlist entry %s: the off-session charge asked for action", entry_id)
            return True
        await self._succeeded(entry_id, result)
        return True

    async def _record(self, entry_id: str, order: str = "", **values: Any) -> Row | None:
        """Move a ``charging`` entry to its outcome (a few tries: the waitlist's pass may
        settle the same entry at the same moment); the entry as it was, if this call
        recorded the outcome, else None (another call did)."""
        for _ in range(5):
            async with self.uow() as uow:
                row = await uow.waitlist.get(entry_id)
                if row is None or row["charge_status"] != CHARGING:
                    return None
                if not await uow.waitlist.change(entry_id, row["version"], **values):
                    continue
                await uow.messages.add(self._word(row, values, order))
                uow.audit(
                    f"waitlist.autocharge_{values['charge_status']}",
                    "waitlist_entry",
                    entry_id,
                    after={
                        "checkout_id": row["charge_checkout_id"],
                        "error": values.get("charge_error"),
                    },
                )
                await uow.commit()
                return row
        return None

    def _word(self, row: Row, values: dict[str, Any], order: str) -> dict[str, Any]:
        """The message telling the buyer what their saved card did."""
        now = self._now()
        if values["charge_status"] == SUCCEEDED:
            return _message(
                row,
                CHARGED_KIND,
                f"Your saved card paid for a unit of {row['sku_id']}",
                f"Good news: a unit of {row['sku_id']} you waited for came back, and your "
                f"saved card paid for it: {order}.\n\n-- {self.shop_name}\n",
                now,
            )
        return _message(
            row,
            CHARGE_FAILED_KIND,
            f"Your saved card could not pay for {row['sku_id']}",
            f"A unit of {row['sku_id']} you waited for came back, but your saved card "
            f"could not pay for it ({values.get('charge_error') or 'declined'}), so it "
            f"went to the next buyer in line. You were not charged.\n\n-- {self.shop_name}\n",
            now,
        )

    async def _succeeded(self, entry_id: str, result: CheckoutResult) -> None:
        order = result.order
        assert order is not None
        now = self._now()
        what = (
            f"order {order.number}, {format_money(order.total_amount, order.currency)}"
            if order.number
            else f"order {order.id}"
        )
        await self._record(
            entry_id,
            status=EntryStatus.CLAIMED.value,
            charge_status=SUCCEEDED,
            charged_at=now,
            finished_at=now,
            order=what,
        )
        await self.forget(entry_id)

    async def _failed(self, entry_id: str, code: str, why: str) -> None:
        """Record a failed charge: the entry is ``lost``, its hold released (the unit
        goes behind the gate, for the next in line), the saved method detached."""
        now = self._now()
        row = await self._record(
            entry_id,
            status=EntryStatus.LOST.value,
            charge_status=FAILED,
            charge_error=f"{code}: {why}"[:500],
            charged_at=now,
            finished_at=now,
            note=f"auto-charge failed: {code}"[:500],
        )
        if row is not None and row["hold_id"]:
            try:
                await self.engine.release(row["hold_id"], self.clock.now())
            except Exception as exc:  # already finished: expired, or the sweeper's
                log.debug("claim hold %s not released: %s", row["hold_id"], exc)
        await self.forget(entry_id)

    # ------------------------------------------------------------------ background

    async def run_once(self) -> int:
        """Finish what a crash or a slow provider left (see the module docstring);
        returns how many entries it acted on."""
        acted = 0
        async with self.uow(readonly=True) as uow:
            offered = await uow.waitlist.with_tokens([EntryStatus.OFFERED.value])
            charging = await uow.waitlist.charging()
            done = await uow.waitlist.with_tokens(
                [s.value for s in EntryStatus if s not in OPEN_STATES]
            )
        for row in offered:
            if row["charge_status"] is None:
                acted += 1
                if not await self.charge(row["id"]):
                    await self.serving.serve_line(row["drop_id"], row["sku_id"])
        for row in charging:
            if not row["charge_checkout_id"]:
                continue
            checkout = await self.checkout.get(row["charge_checkout_id"])
            if checkout.status is CheckoutStatus.SUCCEEDED:
                acted += 1
                paid = await self.checkout.answer(checkout.id, checkout.buyer_id)
                if paid is not None:
                    await self._succeeded(row["id"], paid)
            elif checkout.status in _GIVEN_BACK:
                acted += 1
                why = checkout.failure_reason or "the card was declined"
                await self._failed(row["id"], checkout.decline_code or checkout.status.value, why)
                await self.serving.serve_line(row["drop_id"], row["sku_id"])
        for row in done:
            if row["charge_status"] != CHARGING:
                acted += 1
                await self.forget(row["id"])
        return acted

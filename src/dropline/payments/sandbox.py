"""The built-in sandbox card processor (the embedded default).

It behaves like a real processor, with state kept in the database so a restart in the
middle of a payment is recovered exactly as it would be with a real one. Test payment
methods (card numbers or Stripe-style names):

| payment_method                                  | outcome                               |
|-------------------------------------------------|---------------------------------------|
| 4242424242424242, pm_card_visa, tok_visa         | authorised                            |
| 4000000000000002, pm_card_chargeDeclined         | declined: card_declined               |
| 4000000000009995, pm_card_chargeDeclinedInsufficientFunds | declined: insufficient_funds |
| 4000000000000069, pm_card_chargeDeclinedExpiredCard | declined: expired_card             |
| 4000000000003220, pm_card_threeDSecure2Required  | requires action, then authorised      |
| 4000008260003178                                 | requires action, then insufficient_funds |
| 4000000000000119                                 | provider error (processing_error)     |
| 4000000000000341, pm_card_chargeCustomerFail     | declined: card_declined               |
| 4000002760003184, pm_card_authenticationRequired | requires action, then authorised      |
| any other Luhn-valid number                      | authorised                            |
| anything else                                    | declined: incorrect_number            |

Saved for off-session charges (``save_method``, e.g. on joining a waitlist): what
authorises above saves, and its off-session charges are authorised, except

| payment_method                                   | saved? | off-session charge          |
|--------------------------------------------------|--------|-----------------------------|
| 4000000000000341, pm_card_chargeCustomerFail     | yes    | declined: card_declined     |
| 4000002760003184, pm_card_authenticationRequired | yes    | declined: authentication_required |
| the declining cards above                        | no: 402 with their decline code |  |
| 4000000000003220, 4000008260003178 (3-D Secure)  | no: 402 authentication_required |  |
| 4000000000000119                                 | no: provider error (502) |        |

Real Stripe asks the buyer to authenticate 4000002760003184 while saving it too; the
sandbox, having no buyer in the loop, saves it and fails its off-session charges only.
The token (``saved:sandbox:<outcome>:<last4>``) carries the outcome: the sandbox keeps
nothing for a saved method, so ``forget_method`` has nothing to delete.

Writes are batched (issue 24): authorisations, confirms, captures and voids that arrive
together share one transaction through a ``store.group_commit.GroupCommit`` writer, with
their statements merged (``payments.sandbox_writes.write_batch``: one claim of every
idempotency key, one insert of the new payments, one move per kind). Under a burst of
checkouts that replaces two transactions per order with a share of two per batch. Every
call keeps its own answer; one refused by its own rule is refused alone, and a batch that
fails as a whole is written call by call, as with batching off
(``DROPLINE_GROUP_COMMIT=off``). Refunds are written alone.

Its payments being rows of dropline's own database, the sandbox also writes in a
transaction the caller opened (``services.ports.WritesInTransaction``: ``authorize_in``,
``capture_in``, the same merged statements): checkout records a batch's authorisations
with its checkouts and its captures with its orders, so under a burst an order takes two
write transactions instead of four. The calls above remain for everything else (a
checkout written alone, confirms, voids, recovery).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dropline.domain.errors import (
    InvalidInput,
    PaymentDeclined,
    PaymentProviderError,
)
from dropline.domain.ids import new_id
from dropline.payments.sandbox_writes import (
    AUTHORIZE,
    MESSAGES,
    PaymentWrite,
    claim,
    payment_result,
    read_payment,
    row_result,
    write_batch,
    write_one,
)
from dropline.services.ports import (
    SAVED_METHOD_PREFIX,
    Authorization,
    PaymentResult,
    PaymentStatus,
    SavedMethod,
)
from dropline.store import write_gate
from dropline.store.group_commit import GroupCommit
from dropline.store.live.payment_tables import sandbox_payments

SUCCESS = "success"
_CARDS: dict[str, tuple[str, str | None]] = {
    "4242424242424242": (SUCCESS, None),
    "pm_card_visa": (SUCCESS, None),
    "tok_visa": (SUCCESS, None),
    "4000000000000002": ("decline", "card_declined"),
    "pm_card_chargeDeclined": ("decline", "card_declined"),
    "4000000000009995": ("decline", "insufficient_funds"),
    "pm_card_chargeDeclinedInsufficientFunds": ("decline", "insufficient_funds"),
    "4000000000000069": ("decline", "expired_card"),
    "pm_card_chargeDeclinedExpiredCard": ("decline", "expired_card"),
    "4000000000003220": ("action", None),
    "pm_card_threeDSecure2Required": ("action", None),
    "4000008260003178": ("action", "insufficient_funds"),
    "4000000000000119": ("error", "processing_error"),
}
#: Cards that save, and whose off-session charges then fail (decline code).
_SAVED_FAILS: dict[str, str] = {
    "4000000000000341": "card_declined",
    "pm_card_chargeCustomerFail": "card_declined",
    "4000002760003184": "authentication_required",
    "pm_card_authenticationRequired": "authentication_required",
}
_SANDBOX_SAVED = f"{SAVED_METHOD_PREFIX}sandbox:"
_LAST4 = {"pm_card_visa": "4242", "tok_visa": "4242"}


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_outcome(payment_method: str) -> tuple[str, str | None]:
    """What the sandbox does with a payment method: (kind, decline code)."""
    pm = payment_method.replace(" ", "")
    if pm.startswith(_SANDBOX_SAVED):  # an off-session charge of a saved method
        outcome = pm.removeprefix(_SANDBOX_SAVED).split(":")[0]
        return (SUCCESS, None) if outcome == "ok" else ("decline", outcome or "card_declined")
    if pm in _SAVED_FAILS:  # on-session: 0341 declines, 3184 asks for 3-D Secure
        code = _SAVED_FAILS[pm]
        return ("decline", code) if code == "card_declined" else ("action", None)
    if pm in _CARDS:
        return _CARDS[pm]
    return (SUCCESS, None) if luhn_ok(pm) else ("decline", "incorrect_number")


def _hash(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _authorization(call: Authorization) -> PaymentWrite:
    """The write of an authorisation; raises, writing nothing, for an amount that is not
    positive or the provider-error test card."""
    if call.amount <= 0:
        raise InvalidInput("amount must be positive")
    kind, code = card_outcome(call.payment_method)
    if kind == "error":
        raise PaymentProviderError("the sandbox processor had an error (test card 0119)")
    pid = new_id("pay")
    status = {
        SUCCESS: PaymentStatus.AUTHORIZED,
        "decline": PaymentStatus.DECLINED,
        "action": PaymentStatus.REQUIRES_ACTION,
    }[kind]
    now = datetime.now(UTC)
    decline_code = code if kind == "decline" else None
    row = {
        "id": pid,
        "amount": call.amount,
        "currency": call.currency,
        "status": status.value,
        "payment_method": call.payment_method[-4:],
        "decline_code": decline_code,
        "refunded_amount": 0,
        "metadata": {**(call.metadata or {}), "pending_decline": code or ""},
        "created_at": now,
        "updated_at": now,
    }
    return PaymentWrite(
        AUTHORIZE,
        call.idempotency_key,
        pid,
        _hash(AUTHORIZE, call.amount, call.currency, call.payment_method),
        new_payment=row,
        fresh=payment_result(pid, status, call.amount, call.currency, decline_code, 0),
    )


def _move(
    payment_id: str,
    key: str,
    op: str,
    allowed: dict[PaymentStatus, PaymentStatus],
    done: PaymentStatus,
    **extra: Any,
) -> PaymentWrite:
    """The write of a move of a payment from a status of ``allowed``."""
    return PaymentWrite(
        op, key, payment_id, _hash(op, payment_id, extra), allowed=allowed, done=done, extra=extra
    )


def _capture(payment_id: str, key: str) -> PaymentWrite:
    return _move(
        payment_id,
        key,
        "capture",
        {PaymentStatus.AUTHORIZED: PaymentStatus.CAPTURED},
        PaymentStatus.CAPTURED,
    )


class SandboxProvider:
    """The sandbox processor on ``engine``. ``batching`` (on unless group commit is
    turned off, ``DROPLINE_GROUP_COMMIT``): authorisations, captures and voids that
    arrive together share a transaction (``writer``); off, each has its own."""

    name = "sandbox"

    def __init__(self, engine: AsyncEngine, *, batching: bool = True) -> None:
        self.engine = engine
        self.writer: GroupCommit[AsyncConnection, PaymentWrite, PaymentResult] | None = (
            GroupCommit(self._writing, write_batch, lambda conn: conn.commit())
            if batching
            else None
        )

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, in this process's turn (``store.write_gate``); rolled
        back when it closes uncommitted."""
        async with write_gate.writing(self.engine), self.engine.begin() as conn:
            yield conn

    async def _write(self, job: PaymentWrite) -> PaymentResult:
        """Write one call: in the writer's next batch, or alone (batching off, or its
        batch rolled back as a whole) in a transaction of its own, as it always was.
        A call refused by its own rule raises either way."""
        if self.writer is not None:
            done = await self.writer.submit(job)
            if done is not None:
                return done
        async with self._writing() as conn:
            return await write_one(conn, job)

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads only. On SQLite its transaction is deferred and takes
        no write lock: an immediate one (what writers begin with) outside the write gate
        would wait for the writer of this process holding the lock, blocking the event
        loop that writer needs to finish (concurrent confirms stalled for the busy
        timeout, then failed with "database is locked")."""
        async with self.engine.connect() as conn:
            await conn.execution_options(sqlite_begin="DEFERRED")
            yield conn

    async def authorize(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentResult:
        return await self._write(
            _authorization(
                Authorization(amount, currency, payment_method, idempotency_key, metadata)
            )
        )

    def writes_in(self, conn: AsyncConnection) -> bool:
        """Whether ``conn`` is on this sandbox's database (``WritesInTransaction``)."""
        return conn.sync_engine is self.engine.sync_engine

    async def authorize_in(
        self, conn: AsyncConnection, calls: Sequence[Authorization]
    ) -> list[PaymentResult | Exception]:
        """Authorisations in the caller's transaction (``WritesInTransaction``), their
        statements merged as a batch's (``write_batch``). A call its own rule refuses
        before any write (amount, test card 0119) is answered with that error."""
        answers: list[PaymentResult | Exception | None] = []
        writes: list[PaymentWrite] = []
        for call in calls:
            try:
                writes.append(_authorization(call))
            except (InvalidInput, PaymentProviderError) as refused:
                answers.append(refused)
            else:
                answers.append(None)
        written = iter(await write_batch(conn, writes) if writes else [])
        return [next(written) if answer is None else answer for answer in answers]

    async def capture_in(
        self, conn: AsyncConnection, calls: Sequence[tuple[str, str]]
    ) -> list[PaymentResult | Exception]:
        """Captures in the caller's transaction (``WritesInTransaction``)."""
        return await write_batch(conn, [_capture(pid, key) for pid, key in calls])

    async def save_method(
        self, *, payment_method: str, idempotency_key: str, metadata: Mapping[str, str]
    ) -> SavedMethod:
        """Keep a test card for off-session charges (see the module's tables): its
        outcome is in the token, nothing is stored. Refused like a card being set up at
        Stripe: a declining card with its decline code, a 3-D Secure card with
        ``authentication_required`` (``PaymentDeclined``)."""
        pm = payment_method.replace(" ", "")
        if pm.startswith(SAVED_METHOD_PREFIX):
            raise InvalidInput("payment_method must be a card, not a saved method")
        if pm in _SAVED_FAILS:
            outcome = _SAVED_FAILS[pm]
        else:
            kind, code = card_outcome(pm)
            if kind == "error":
                raise PaymentProviderError("the sandbox processor had an error (test card 0119)")
            if kind == "action":
                code = "authentication_required"
            if kind != SUCCESS:
                raise PaymentDeclined(
                    MESSAGES.get(code or "", "The card was declined."),
                    decline_code=code,
                    field="payment_method",
                )
            outcome = "ok"
        last4 = _LAST4.get(pm, pm[-4:] if pm.isdigit() else "")
        return SavedMethod(f"{_SANDBOX_SAVED}{outcome}:{last4}", last4, "sandbox")

    async def forget_method(self, token: str) -> None:
        """Nothing to delete: a sandbox saved method lives in its token only."""

    async def _transition(
        self,
        payment_id: str,
        key: str,
        op: str,
        allowed: dict[PaymentStatus, PaymentStatus],
        done: PaymentStatus,
        **extra: Any,
    ) -> PaymentResult:
        return await self._write(_move(payment_id, key, op, allowed, done, **extra))

    async def confirm(self, payment_id: str, *, idempotency_key: str) -> PaymentResult:
        async with self._reading() as conn:
            row = await read_payment(conn, payment_id)
        pending = (row.metadata or {}).get("pending_decline") or None
        if PaymentStatus(row.status) is PaymentStatus.REQUIRES_ACTION and pending:
            return await self._transition(
                payment_id,
                idempotency_key,
                "confirm",
                {PaymentStatus.REQUIRES_ACTION: PaymentStatus.DECLINED},
                PaymentStatus.DECLINED,
                decline_code=pending,
            )
        return await self._transition(
            payment_id,
            idempotency_key,
            "confirm",
            {PaymentStatus.REQUIRES_ACTION: PaymentStatus.AUTHORIZED},
            PaymentStatus.AUTHORIZED,
        )

    async def capture(self, payment_id: str, *, idempotency_key: str) -> PaymentResult:
        return await self._write(_capture(payment_id, idempotency_key))

    async def void(self, payment_id: str, *, idempotency_key: str) -> PaymentResult:
        return await self._transition(
            payment_id,
            idempotency_key,
            "void",
            {
                PaymentStatus.AUTHORIZED: PaymentStatus.VOIDED,
                PaymentStatus.REQUIRES_ACTION: PaymentStatus.VOIDED,
            },
            PaymentStatus.VOIDED,
        )

    async def refund(
        self, payment_id: str, *, idempotency_key: str, amount: int | None = None
    ) -> PaymentResult:
        async with self._writing() as conn:
            existing = await claim(
                conn, idempotency_key, "refund", payment_id, _hash("refund", payment_id, amount)
            )
            row = await read_payment(conn, existing or payment_id)
            if existing is not None:
                return row_result(row)
            if PaymentStatus(row.status) not in (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED):
                raise PaymentProviderError(f"cannot refund a payment that is {row.status}")
            left = int(row.amount) - int(row.refunded_amount)
            amount = left if amount is None else amount
            if amount <= 0 or amount > left:
                raise InvalidInput(f"refund amount must be between 1 and {left}")
            refunded = int(row.refunded_amount) + amount
            await conn.execute(
                update(sandbox_payments)
                .where(sandbox_payments.c.id == payment_id)
                .values(
                    refunded_amount=refunded,
                    status=PaymentStatus.REFUNDED.value
                    if refunded == int(row.amount)
                    else PaymentStatus.CAPTURED.value,
                    updated_at=datetime.now(UTC),
                )
            )
            return row_result(await read_payment(conn, payment_id))

    async def retrieve(self, payment_id: str) -> PaymentResult:
        async with self._reading() as conn:
            return row_result(await read_payment(conn, payment_id))

    async def ping(self) -> None:
        async with self._reading() as conn:
            await conn.execute(select(sandbox_payments.c.id).limit(1))

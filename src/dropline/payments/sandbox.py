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
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dropline.domain.errors import (
    IdempotencyMismatch,
    InvalidInput,
    PaymentDeclined,
    PaymentProviderError,
)
from dropline.domain.ids import new_id
from dropline.services.ports import SAVED_METHOD_PREFIX, PaymentResult, PaymentStatus, SavedMethod
from dropline.store import write_gate
from dropline.store.live.payment_tables import sandbox_operations, sandbox_payments

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
_MESSAGES = {
    "authentication_required": "The card asks for authentication, "
    "and the buyer is not there to give it.",
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "incorrect_number": "Your card number is incorrect.",
}


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


def _claim_statement(mod: Any) -> Any:
    return (
        mod.insert(sandbox_operations)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(sandbox_operations.c.idempotency_key)
    )


# The statements of an authorisation and a capture, built once ({is PostgreSQL: ...}).
_CLAIM = {False: _claim_statement(sqlite), True: _claim_statement(postgresql)}
_ADD_PAYMENT = insert(sandbox_payments)
_MOVE = (
    update(sandbox_payments)
    .where(
        sandbox_payments.c.id == bindparam("payment"),
        sandbox_payments.c.status.in_(bindparam("from_statuses", expanding=True)),
    )
    .returning(*sandbox_payments.c)
)


def _payment_result(
    payment_id: str,
    status: PaymentStatus,
    amount: int,
    currency: str,
    decline_code: str | None,
    refunded_amount: int,
) -> PaymentResult:
    next_action = None
    if status is PaymentStatus.REQUIRES_ACTION:
        next_action = {"type": "three_d_secure", "payment_id": payment_id}
    return PaymentResult(
        payment_id=payment_id,
        status=status,
        amount=amount,
        currency=currency,
        decline_code=decline_code,
        message=_MESSAGES.get(decline_code or ""),
        next_action=next_action,
        refunded_amount=refunded_amount,
    )


def _hash(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


class SandboxProvider:
    name = "sandbox"

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

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

    async def _row(self, conn: AsyncConnection, payment_id: str) -> Any:
        row = (
            await conn.execute(select(sandbox_payments).where(sandbox_payments.c.id == payment_id))
        ).first()
        if row is None:
            raise PaymentProviderError(f"no such payment {payment_id}")
        return row

    @staticmethod
    def _result(row: Any) -> PaymentResult:
        return _payment_result(
            row.id,
            PaymentStatus(row.status),
            int(row.amount),
            row.currency,
            row.decline_code,
            int(row.refunded_amount),
        )

    async def _claim(
        self, conn: AsyncConnection, key: str, op: str, payment_id: str, request_hash: str
    ) -> str | None:
        """Record an idempotency key; return the payment id it already points at, if any.

        Inserts first (one statement for a new key, the common case) and reads the
        stored operation only when the key was taken already."""
        claimed = (
            await conn.execute(
                _CLAIM[conn.dialect.name == "postgresql"],
                {
                    "idempotency_key": key,
                    "operation": op,
                    "payment_id": payment_id,
                    "request_hash": request_hash,
                },
            )
        ).first()
        if claimed is not None:
            return None
        row = (
            await conn.execute(
                select(sandbox_operations).where(sandbox_operations.c.idempotency_key == key)
            )
        ).one()
        if row.request_hash != request_hash or row.operation != op:
            raise IdempotencyMismatch("idempotency key reused for a different payment call")
        return str(row.payment_id)

    async def authorize(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentResult:
        if amount <= 0:
            raise InvalidInput("amount must be positive")
        kind, code = card_outcome(payment_method)
        if kind == "error":
            raise PaymentProviderError("the sandbox processor had an error (test card 0119)")
        req = _hash("authorize", amount, currency, payment_method)
        async with write_gate.writing(self.engine), self.engine.begin() as conn:
            pid = new_id("pay")
            existing = await self._claim(conn, idempotency_key, "authorize", pid, req)
            if existing is not None:
                return self._result(await self._row(conn, existing))
            status = {
                SUCCESS: PaymentStatus.AUTHORIZED,
                "decline": PaymentStatus.DECLINED,
                "action": PaymentStatus.REQUIRES_ACTION,
            }[kind]
            now = datetime.now(UTC)
            decline_code = code if kind == "decline" else None
            await conn.execute(
                _ADD_PAYMENT,
                {
                    "id": pid,
                    "amount": amount,
                    "currency": currency,
                    "status": status.value,
                    "payment_method": payment_method[-4:],
                    "decline_code": decline_code,
                    "refunded_amount": 0,
                    "metadata": {**(metadata or {}), "pending_decline": code or ""},
                    "created_at": now,
                    "updated_at": now,
                },
            )
            # The row just written, without reading it back.
            return _payment_result(pid, status, amount, currency, decline_code, 0)

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
                    _MESSAGES.get(code or "", "The card was declined."),
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
        targets = set(allowed.values())
        async with write_gate.writing(self.engine), self.engine.begin() as conn:
            existing = await self._claim(conn, key, op, payment_id, _hash(op, payment_id, extra))
            if existing is None and len(targets) == 1:
                # The usual case in one statement: move the payment if it is in a state
                # the operation allows; anything else is decided below as before.
                params = {
                    **extra,
                    "status": targets.pop().value,
                    "updated_at": datetime.now(UTC),
                    "payment": payment_id,
                    "from_statuses": [s.value for s in allowed],
                }
                moved = (await conn.execute(_MOVE, params)).first()
                if moved is not None:
                    return self._result(moved)
            row = await self._row(conn, existing or payment_id)
            current = PaymentStatus(row.status)
            if existing is not None or current is done:
                return self._result(row)
            if current not in allowed:
                raise PaymentProviderError(f"cannot {op} a payment that is {current}")
            values = {"status": allowed[current].value, "updated_at": datetime.now(UTC), **extra}
            await conn.execute(
                update(sandbox_payments).where(sandbox_payments.c.id == payment_id).values(**values)
            )
            return self._result(await self._row(conn, payment_id))

    async def confirm(self, payment_id: str, *, idempotency_key: str) -> PaymentResult:
        async with self._reading() as conn:
            row = await self._row(conn, payment_id)
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
        return await self._transition(
            payment_id,
            idempotency_key,
            "capture",
            {PaymentStatus.AUTHORIZED: PaymentStatus.CAPTURED},
            PaymentStatus.CAPTURED,
        )

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
        async with write_gate.writing(self.engine), self.engine.begin() as conn:
            existing = await self._claim(
                conn, idempotency_key, "refund", payment_id, _hash("refund", payment_id, amount)
            )
            row = await self._row(conn, existing or payment_id)
            if existing is not None:
                return self._result(row)
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
            return self._result(await self._row(conn, payment_id))

    async def retrieve(self, payment_id: str) -> PaymentResult:
        async with self._reading() as conn:
            return self._result(await self._row(conn, payment_id))

    async def ping(self) -> None:
        async with self._reading() as conn:
            await conn.execute(select(sandbox_payments.c.id).limit(1))

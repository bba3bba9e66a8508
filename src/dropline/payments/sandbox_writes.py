"""The sandbox processor's payment writes, in a transaction the caller opened.

Two ways to write the same calls (``PaymentWrite``: an authorisation or a move of a
payment, under an idempotency key):

- ``write_one``: one call, the statements it always used (claim the key, insert or move
  the payment). A call written alone, and a batch's call that is not the simple case.
- ``write_batch``: the calls that queued together (``payments.sandbox`` hands them to a
  ``store.group_commit.GroupCommit``), with their statements merged: one multi-row
  claim of every key, one multi-row insert of the new payments, one
  ``UPDATE .. WHERE id IN (..)`` per kind of move. Every call keeps its own rules and
  answer; one refused by its own rule (a key reused for another call, a payment in the
  wrong state) gets its exception and leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from dropline.domain.errors import IdempotencyMismatch, PaymentProviderError
from dropline.services.ports import PaymentResult, PaymentStatus
from dropline.store.base import insert_rows
from dropline.store.live.payment_tables import sandbox_operations, sandbox_payments

AUTHORIZE = "authorize"
MESSAGES = {
    "authentication_required": "The card asks for authentication, "
    "and the buyer is not there to give it.",
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "incorrect_number": "Your card number is incorrect.",
}
_MISMATCH = "idempotency key reused for a different payment call"


def _claim_statement(mod: Any) -> Any:
    return (
        mod.insert(sandbox_operations)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(sandbox_operations.c.idempotency_key)
    )


# The statements, built once ({is PostgreSQL: ...}). A list of parameter sets makes
# the claim one multi-row INSERT .. RETURNING (SQLAlchemy's "insertmanyvalues").
_CLAIM = {False: _claim_statement(sqlite), True: _claim_statement(postgresql)}
_UNCLAIM = delete(sandbox_operations).where(
    sandbox_operations.c.idempotency_key.in_(bindparam("keys", expanding=True))
)
_CLAIMS = select(sandbox_operations).where(
    sandbox_operations.c.idempotency_key.in_(bindparam("keys", expanding=True))
)
_PAYMENTS = select(sandbox_payments).where(
    sandbox_payments.c.id.in_(bindparam("payments", expanding=True))
)
_MOVE = (
    update(sandbox_payments)
    .where(
        sandbox_payments.c.id.in_(bindparam("payments", expanding=True)),
        sandbox_payments.c.status.in_(bindparam("from_statuses", expanding=True)),
    )
    .returning(*sandbox_payments.c)
)


def payment_result(
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
        message=MESSAGES.get(decline_code or ""),
        next_action=next_action,
        refunded_amount=refunded_amount,
    )


def row_result(row: Any) -> PaymentResult:
    """A stored payment as the provider answers it."""
    return payment_result(
        row.id,
        PaymentStatus(row.status),
        int(row.amount),
        row.currency,
        row.decline_code,
        int(row.refunded_amount),
    )


async def read_payment(conn: AsyncConnection, payment_id: str) -> Any:
    """The payment's row; ``PaymentProviderError`` when there is none."""
    row = (
        await conn.execute(select(sandbox_payments).where(sandbox_payments.c.id == payment_id))
    ).first()
    if row is None:
        raise PaymentProviderError(f"no such payment {payment_id}")
    return row


def _claim_params(key: str, op: str, payment_id: str, request_hash: str) -> dict[str, str]:
    return {
        "idempotency_key": key,
        "operation": op,
        "payment_id": payment_id,
        "request_hash": request_hash,
    }


def _is_pg(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


async def claim(
    conn: AsyncConnection, key: str, op: str, payment_id: str, request_hash: str
) -> str | None:
    """Record an idempotency key; return the payment id it already points at, if any.

    Inserts first (one statement for a new key, the common case) and reads the stored
    operation only when the key was taken already; ``IdempotencyMismatch`` when it was
    taken by a different call."""
    claimed = (
        await conn.execute(_CLAIM[_is_pg(conn)], _claim_params(key, op, payment_id, request_hash))
    ).first()
    if claimed is not None:
        return None
    row = (await conn.execute(_CLAIMS, {"keys": [key]})).one()
    if row.request_hash != request_hash or row.operation != op:
        raise IdempotencyMismatch(_MISMATCH)
    return str(row.payment_id)


@dataclass(frozen=True)
class PaymentWrite:
    """One call to write: an authorisation (``new_payment`` is the row to insert and
    ``fresh`` the answer once it is) or a move of payment ``payment_id`` from a status
    of ``allowed`` to the one it maps to (``done``: the status that means "moved
    already"; ``extra``: more columns to set)."""

    op: str
    key: str
    payment_id: str
    request_hash: str
    new_payment: Mapping[str, Any] | None = None
    fresh: PaymentResult | None = None
    allowed: Mapping[PaymentStatus, PaymentStatus] = field(default_factory=dict)
    done: PaymentStatus | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def claim_params(self) -> dict[str, str]:
        return _claim_params(self.key, self.op, self.payment_id, self.request_hash)

    def move_kind(self) -> tuple[str, tuple[str, ...]] | None:
        """(target status, statuses it moves from) when one statement moves the
        payment; None for an authorisation or a move with a choice of targets."""
        targets = set(self.allowed.values())
        if self.new_payment is not None or len(targets) != 1:
            return None
        return targets.pop().value, tuple(sorted(s.value for s in self.allowed))


async def write_one(
    conn: AsyncConnection, job: PaymentWrite, *, unclaim_refused: bool = False
) -> PaymentResult:
    """Write one call in ``conn`` (not committed); its answer, or its refusal raised.

    A refusal after this call claimed its key leaves the claim in the transaction:
    rolling back removes it, or ``unclaim_refused`` deletes it here (a batch goes on
    and commits the other calls)."""
    existing = await claim(conn, job.key, job.op, job.payment_id, job.request_hash)
    if job.new_payment is not None:
        if existing is not None:
            return row_result(await read_payment(conn, existing))
        await insert_rows(conn, sandbox_payments, [job.new_payment])
        assert job.fresh is not None
        return job.fresh  # the row just written, without reading it back
    try:
        return await _move_one(conn, job, existing)
    except PaymentProviderError:
        if existing is None and unclaim_refused:
            await conn.execute(_UNCLAIM, {"keys": [job.key]})
        raise


async def _move_one(
    conn: AsyncConnection, job: PaymentWrite, existing: str | None
) -> PaymentResult:
    kind = job.move_kind()
    if existing is None and kind is not None:
        # The usual case in one statement: move the payment if it is in a state the
        # operation allows; anything else is decided below.
        moved = (await conn.execute(_MOVE, _move_params(kind, [job.payment_id], job.extra))).first()
        if moved is not None:
            return row_result(moved)
    row = await read_payment(conn, existing or job.payment_id)
    current = PaymentStatus(row.status)
    if existing is not None or current is job.done:
        return row_result(row)
    if current not in job.allowed:
        raise PaymentProviderError(f"cannot {job.op} a payment that is {current}")
    values = {"status": job.allowed[current].value, "updated_at": datetime.now(UTC), **job.extra}
    await conn.execute(
        update(sandbox_payments).where(sandbox_payments.c.id == job.payment_id).values(**values)
    )
    return row_result(await read_payment(conn, job.payment_id))


def _move_params(
    kind: tuple[str, tuple[str, ...]], payments: list[str], extra: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        **extra,
        "status": kind[0],
        "updated_at": datetime.now(UTC),
        "payments": payments,
        "from_statuses": list(kind[1]),
    }


async def write_batch(
    conn: AsyncConnection, jobs: Sequence[PaymentWrite]
) -> list[PaymentResult | Exception]:
    """Write every call in ``conn`` (one transaction, committed by the caller): one
    answer per job, in order, each as ``write_one`` would give it had the calls run
    one after the other.

    The simple calls (the first with its key; a move with one target and no extra
    columns, the first of the batch on its payment) share statements: one claim of
    every key (sorted, so batches of two PostgreSQL processes lock keys in one order),
    one read of the keys that were taken, one insert of the new payments, one move
    per (target, from) kind, one read of the payments a move could not move or a
    repeated key points at. A key taken by a different call is answered
    ``IdempotencyMismatch``; a move of a payment in a state it does not allow (or of
    no payment) ``PaymentProviderError``, its claim deleted. The other calls are
    then written by ``write_one``, in queue order, after the simple ones."""
    results: dict[int, PaymentResult | Exception] = {}
    simple: list[int] = []
    later: list[int] = []
    keys: set[str] = set()
    moving: set[str] = set()
    for i, job in enumerate(jobs):
        moves = job.new_payment is None
        if (
            job.key in keys
            or job.extra
            or (moves and (job.move_kind() is None or job.payment_id in moving))
        ):
            later.append(i)
            continue
        simple.append(i)
        keys.add(job.key)
        if moves:
            moving.add(job.payment_id)
    if simple:
        await _write_simple(conn, jobs, simple, results)
    for i in later:
        try:
            results[i] = await write_one(conn, jobs[i], unclaim_refused=True)
        except (IdempotencyMismatch, PaymentProviderError) as refused:
            results[i] = refused
    return [results[i] for i in range(len(jobs))]


async def _write_simple(
    conn: AsyncConnection,
    jobs: Sequence[PaymentWrite],
    simple: list[int],
    results: dict[int, PaymentResult | Exception],
) -> None:
    params = sorted((jobs[i].claim_params() for i in simple), key=lambda p: p["idempotency_key"])
    fresh = {row[0] for row in await conn.execute(_CLAIM[_is_pg(conn)], params)}
    repeated: dict[int, str] = {}  # job -> the payment its stored key points at
    taken = [i for i in simple if jobs[i].key not in fresh]
    if taken:
        stored = {
            row.idempotency_key: row
            for row in await conn.execute(_CLAIMS, {"keys": [jobs[i].key for i in taken]})
        }
        for i in taken:
            op = stored[jobs[i].key]
            if op.request_hash != jobs[i].request_hash or op.operation != jobs[i].op:
                results[i] = IdempotencyMismatch(_MISMATCH)
            else:
                repeated[i] = str(op.payment_id)
    new = [i for i in simple if jobs[i].key in fresh and jobs[i].new_payment is not None]
    if new:
        await insert_rows(conn, sandbox_payments, [jobs[i].new_payment or {} for i in new])
        for i in new:
            answer = jobs[i].fresh
            assert answer is not None
            results[i] = answer  # the row just written, without reading it back
    by_kind: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for i in simple:
        kind = jobs[i].move_kind()
        if jobs[i].key in fresh and kind is not None:
            by_kind.setdefault(kind, []).append(i)
    unmoved: list[int] = []
    for kind, group in by_kind.items():
        ids = [jobs[i].payment_id for i in group]
        moved = {row.id: row for row in await conn.execute(_MOVE, _move_params(kind, ids, {}))}
        for i in group:
            if jobs[i].payment_id in moved:
                results[i] = row_result(moved[jobs[i].payment_id])
            else:
                unmoved.append(i)
    if not unmoved and not repeated:
        return
    wanted = [jobs[i].payment_id for i in unmoved] + list(repeated.values())
    rows = {row.id: row for row in await conn.execute(_PAYMENTS, {"payments": wanted})}
    refused: list[str] = []
    for i in unmoved:
        row = rows.get(jobs[i].payment_id)
        if row is not None and PaymentStatus(row.status) is jobs[i].done:
            results[i] = row_result(row)  # moved already, by an earlier call
            continue
        results[i] = PaymentProviderError(
            f"no such payment {jobs[i].payment_id}"
            if row is None
            else f"cannot {jobs[i].op} a payment that is {PaymentStatus(row.status)}"
        )
        refused.append(jobs[i].key)
    for i, payment_id in repeated.items():
        row = rows.get(payment_id)
        results[i] = (
            row_result(row)
            if row is not None
            else PaymentProviderError(f"no such payment {payment_id}")
        )
    if refused:
        await conn.execute(_UNCLAIM, {"keys": refused})

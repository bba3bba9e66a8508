"""The sandbox processor's calls share transactions (issue 24), on SQLite and
PostgreSQL: authorisations, captures and voids made at the same moment are written in
one batch by the provider's group-commit writer, and each call keeps its own answer and
rules — a repeated key answers with the stored payment, a key reused for another call
or a move of a payment in the wrong state is refused alone (leaving no claim), and a
batch whose commit fails is written call by call, with no payment made twice.

Calls gathered in one ``asyncio.gather`` all queue before the writer task first runs,
so they make exactly one batch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from dropline.domain.errors import IdempotencyMismatch, PaymentProviderError
from dropline.payments.sandbox import SandboxProvider
from dropline.services.ports import PaymentResult, PaymentStatus
from dropline.store.db import create_engine
from dropline.store.group_commit import GroupCommit
from dropline.store.live.payment_tables import sandbox_operations, sandbox_payments

VISA = "pm_card_visa"
DECLINED = "4000000000000002"
THREE_DS = "4000000000003220"


@pytest.fixture
async def provider(database_url: str) -> AsyncIterator[SandboxProvider]:
    engine = create_engine(database_url)
    try:
        yield SandboxProvider(engine)
    finally:
        await engine.dispose()


def writer(p: SandboxProvider) -> GroupCommit[Any, Any, Any]:
    assert p.writer is not None, "batching is on by default"
    return p.writer


def batches(p: SandboxProvider) -> tuple[int, int, int]:
    """(batches committed, largest, batches rolled back) since the last call."""
    st = writer(p).stats
    out = (st.batches, st.largest, st.fallbacks)
    writer(p).stats = type(st)()
    return out


async def auth(p: SandboxProvider, key: str, pm: str = VISA, amount: int = 1000) -> PaymentResult:
    return await p.authorize(amount=amount, currency="USD", payment_method=pm, idempotency_key=key)


async def count(p: SandboxProvider, table: Any) -> int:
    async with p.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def claimed(p: SandboxProvider, key: str) -> bool:
    async with p.engine.connect() as conn:
        found = await conn.execute(
            select(sandbox_operations.c.idempotency_key).where(
                sandbox_operations.c.idempotency_key == key
            )
        )
        return found.first() is not None


async def test_concurrent_authorizes_captures_and_voids_share_batches(
    provider: SandboxProvider,
) -> None:
    p = provider
    made = await asyncio.gather(
        *(auth(p, f"a{n}", amount=100 + n) for n in range(4)),
        auth(p, "a-declined", DECLINED),
        auth(p, "a-3ds", THREE_DS),
    )
    assert batches(p) == (1, 6, 0)
    assert [m.status for m in made] == [PaymentStatus.AUTHORIZED] * 4 + [
        PaymentStatus.DECLINED,
        PaymentStatus.REQUIRES_ACTION,
    ]
    assert [m.amount for m in made[:4]] == [100, 101, 102, 103]
    assert made[4].decline_code == "card_declined" and made[4].message
    assert made[5].next_action == {"type": "three_d_secure", "payment_id": made[5].payment_id}
    assert len({m.payment_id for m in made}) == 6 and await count(p, sandbox_payments) == 6

    moved = await asyncio.gather(
        *(p.capture(m.payment_id, idempotency_key=f"c{n}") for n, m in enumerate(made[:3])),
        p.void(made[3].payment_id, idempotency_key="v3"),
        p.void(made[5].payment_id, idempotency_key="v5"),
    )
    assert batches(p) == (1, 5, 0)
    assert [m.status for m in moved] == [PaymentStatus.CAPTURED] * 3 + [PaymentStatus.VOIDED] * 2
    assert [m.payment_id for m in moved] == [m.payment_id for m in made[:4]] + [made[5].payment_id]
    for m in moved:
        assert (await p.retrieve(m.payment_id)).status is m.status


async def test_repeated_keys_inside_and_across_batches_answer_the_stored_payment(
    provider: SandboxProvider,
) -> None:
    p = provider
    first = await asyncio.gather(auth(p, "k1"), auth(p, "k1"), auth(p, "k2"), auth(p, "k1"))
    assert batches(p) == (1, 4, 0)
    assert first[0] == first[1] == first[3] and first[2].payment_id != first[0].payment_id
    assert await count(p, sandbox_payments) == 2

    again = await asyncio.gather(auth(p, "k1"), auth(p, "k2"), auth(p, "k3"))
    assert batches(p) == (1, 3, 0)
    assert again[:2] == [first[0], first[2]]
    assert await count(p, sandbox_payments) == 3

    pid = first[0].payment_id
    caps = await asyncio.gather(
        p.capture(pid, idempotency_key="cap"),
        p.capture(pid, idempotency_key="cap"),
        p.capture(pid, idempotency_key="cap-other"),  # a second capture: moved already
    )
    assert batches(p) == (1, 3, 0)
    assert {c.status for c in caps} == {PaymentStatus.CAPTURED}
    assert {c.payment_id for c in caps} == {pid}

    later = await asyncio.gather(
        p.capture(pid, idempotency_key="cap"), p.capture(pid, idempotency_key="cap-new")
    )
    assert {c.status for c in later} == {PaymentStatus.CAPTURED}
    refunded = await p.refund(pid, idempotency_key="r")
    # A repeated capture key answers with the payment as it is now.
    assert (await p.capture(pid, idempotency_key="cap")).status is refunded.status
    assert refunded.status is PaymentStatus.REFUNDED


async def test_a_mismatched_key_is_refused_alone(provider: SandboxProvider) -> None:
    p = provider
    old = await auth(p, "old", amount=500)
    batches(p)

    results = await asyncio.gather(
        auth(p, "old", amount=999),  # the stored key, another amount
        auth(p, "new"),
        p.capture(old.payment_id, idempotency_key="old"),  # the key of an authorisation
        auth(p, "twice", amount=1),
        auth(p, "twice", amount=2),  # the same key, another call, in the same batch
        p.capture(old.payment_id, idempotency_key="cap"),
        return_exceptions=True,
    )

    assert batches(p) == (1, 6, 0)
    assert isinstance(results[0], IdempotencyMismatch)
    assert isinstance(results[2], IdempotencyMismatch)
    assert isinstance(results[4], IdempotencyMismatch)
    new, twice, cap = results[1], results[3], results[5]
    assert isinstance(new, PaymentResult) and new.status is PaymentStatus.AUTHORIZED
    assert isinstance(twice, PaymentResult) and twice.amount == 1
    assert isinstance(cap, PaymentResult) and cap.status is PaymentStatus.CAPTURED
    assert await count(p, sandbox_payments) == 3  # old, new, twice
    repeated = await auth(p, "old", amount=500)  # the payment as it is now: captured
    assert (repeated.payment_id, repeated.status) == (old.payment_id, PaymentStatus.CAPTURED)


async def test_a_capture_of_a_declined_or_voided_payment_is_refused_alone(
    provider: SandboxProvider,
) -> None:
    p = provider
    declined, voided, good = await asyncio.gather(
        auth(p, "d", DECLINED), auth(p, "v"), auth(p, "g")
    )
    await p.void(voided.payment_id, idempotency_key="void")
    batches(p)

    results = await asyncio.gather(
        p.capture(declined.payment_id, idempotency_key="cap-d"),
        p.capture(voided.payment_id, idempotency_key="cap-v"),
        p.capture(good.payment_id, idempotency_key="cap-g"),
        p.capture("pay_missing", idempotency_key="cap-m"),
        return_exceptions=True,
    )

    assert batches(p) == (1, 4, 0)
    assert isinstance(results[0], PaymentProviderError) and "declined" in str(results[0])
    assert isinstance(results[1], PaymentProviderError) and "voided" in str(results[1])
    assert isinstance(results[3], PaymentProviderError) and "no such payment" in str(results[3])
    assert isinstance(results[2], PaymentResult) and results[2].status is PaymentStatus.CAPTURED
    for key in ("cap-d", "cap-v", "cap-m"):
        assert not await claimed(p, key)  # a refused call leaves no claim behind
    assert await claimed(p, "cap-g")
    with pytest.raises(PaymentProviderError):  # refused again, not answered as stored
        await p.capture(declined.payment_id, idempotency_key="cap-d")


async def test_a_capture_and_a_void_of_one_payment_in_one_batch_run_one_after_the_other(
    provider: SandboxProvider,
) -> None:
    p = provider
    made = await auth(p, "one")
    batches(p)

    results = await asyncio.gather(
        p.capture(made.payment_id, idempotency_key="c"),
        p.void(made.payment_id, idempotency_key="v"),
        return_exceptions=True,
    )

    assert batches(p) == (1, 2, 0)
    assert isinstance(results[0], PaymentResult) and results[0].status is PaymentStatus.CAPTURED
    assert isinstance(results[1], PaymentProviderError) and "captured" in str(results[1])
    assert not await claimed(p, "v")
    assert (await p.retrieve(made.payment_id)).status is PaymentStatus.CAPTURED


async def test_a_batch_whose_commit_fails_is_written_call_by_call(
    provider: SandboxProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = provider
    w = writer(p)
    real = w._commit
    failed: list[int] = []

    async def commit(tx: Any) -> None:
        if not failed:
            failed.append(1)
            raise OperationalError("COMMIT", {}, Exception("disk I/O error (injected)"))
        await real(tx)

    monkeypatch.setattr(w, "_commit", commit)
    results = await asyncio.gather(
        auth(p, "f1"),
        auth(p, "f1"),
        auth(p, "f2", DECLINED),
        auth(p, "f2", amount=7),  # mismatched: refused when written alone too
        auth(p, "f3"),
        return_exceptions=True,
    )

    assert failed == [1]
    st = w.stats
    assert (st.fallbacks, st.fallback_jobs, st.batches) == (1, 5, 0), st
    f1, f1_again, *f2s, f3 = results
    assert isinstance(f1, PaymentResult) and f1 == f1_again
    # Written alone, the two calls of key f2 race: whichever comes first is written.
    f2 = next(r for r in f2s if isinstance(r, PaymentResult))
    assert sum(isinstance(r, IdempotencyMismatch) for r in f2s) == 1
    assert f2.status is PaymentStatus.DECLINED or f2.amount == 7
    assert isinstance(f3, PaymentResult) and f3.status is PaymentStatus.AUTHORIZED
    assert await count(p, sandbox_payments) == 3  # one per key, none twice
    assert await count(p, sandbox_operations) == 3
    for r in (f1, f2, f3):
        assert isinstance(r, PaymentResult)
        assert (await p.retrieve(r.payment_id)).status is r.status


async def test_batching_off_writes_each_call_alone(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        p = SandboxProvider(engine, batching=False)
        assert p.writer is None
        made = await asyncio.gather(auth(p, "x"), auth(p, "x"), auth(p, "y"))
        assert made[0] == made[1] and made[0].payment_id != made[2].payment_id
        caps = await asyncio.gather(
            *(p.capture(m.payment_id, idempotency_key=f"c-{m.payment_id}") for m in made[1:])
        )
        assert {c.status for c in caps} == {PaymentStatus.CAPTURED}
    finally:
        await engine.dispose()

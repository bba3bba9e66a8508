"""The sandbox provider's reads never wait for a writer.

On SQLite every transaction that is not marked as a read begins ``IMMEDIATE`` (it takes
the write lock), and SQLite is called inline on the event loop. A sandbox read that took
the write lock while another task of the same process was writing blocked the loop until
the busy timeout (30 s) and failed with ``database is locked``: two finishers of one
3-D Secure payment (the buyer's confirm and the provider's webhook) did exactly that.
"""

from __future__ import annotations

import asyncio

from dropline.payments.sandbox import SandboxProvider
from dropline.services.ports import PaymentStatus
from dropline.store.db import create_engine
from dropline.store.uow import UnitOfWork

THREE_DS = "4000000000003220"


async def test_reads_answer_while_this_process_is_writing(database_url: str) -> None:
    engine = create_engine(database_url)
    provider = SandboxProvider(engine)
    try:
        payment = await provider.authorize(
            amount=2500, currency="USD", payment_method=THREE_DS, idempotency_key="k-3ds"
        )
        assert payment.status is PaymentStatus.REQUIRES_ACTION
        async with UnitOfWork(engine):  # a write transaction of this process is open
            got = await asyncio.wait_for(provider.retrieve(payment.payment_id), 5)
            assert got.status is PaymentStatus.REQUIRES_ACTION
            await asyncio.wait_for(provider.ping(), 5)
        # confirm reads the payment before its (gated) write
        confirmed = await provider.confirm(payment.payment_id, idempotency_key="k-confirm")
        assert confirmed.status is PaymentStatus.AUTHORIZED
    finally:
        await engine.dispose()

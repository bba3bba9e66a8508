"""The sandbox's payments written in the checkout's own transactions (issue 24), on both
backend profiles: a payment's authorisation commits with its checkout, its capture with
its order (``services.ports.WritesInTransaction``), and no payment is lost or made twice
when such a transaction fails: a rolled-back batch takes its payments' rows with it, and
each checkout is then paid alone, by the provider's own calls, as with a real processor.

Checkouts gathered in one ``asyncio.gather`` queue before the writers first run, so they
share batches."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from dropline.bootstrap import Container
from dropline.domain.errors import PaymentDeclined, PaymentProviderError
from dropline.domain.live.orders import CheckoutStatus
from dropline.payments.sandbox import SandboxProvider
from dropline.services.live.order_writes import CheckoutResult, LedgerRefused
from dropline.services.ports import PaymentStatus, WritesInTransaction
from dropline.store.db import create_engine
from dropline.store.group_commit import GroupCommit
from dropline.store.live.payment_tables import sandbox_operations, sandbox_payments
from support import seed_shop, sell_elsewhere, sku_item

VISA = "4242424242424242"
PROVIDER_ERROR = "4000000000000119"
DECLINED = "4000000000000002"


def sandbox(c: Container) -> SandboxProvider:
    assert isinstance(c.provider, SandboxProvider)
    return c.provider


async def rows(c: Container, table: Any, key_like: str | None = None) -> int:
    query = select(func.count()).select_from(table)
    if key_like is not None:
        query = query.where(sandbox_operations.c.idempotency_key.like(key_like))
    async with c.uow(readonly=True) as uow:
        return int((await uow.conn.execute(query)).scalar_one())


async def pay_all(c: Container, drop_id: str, skus: list[str], cards: list[str]) -> list[Any]:
    holds = [
        await c.holds.place(drop_id, f"buyer{n}", [sku_item(skus[n % len(skus)])])
        for n in range(len(cards))
    ]
    return await asyncio.gather(
        *(c.checkout.start(h.id, h.buyer_id, card) for h, card in zip(holds, cards, strict=True)),
        return_exceptions=True,
    )


def paid(results: list[Any]) -> list[CheckoutResult]:
    return [r for r in results if isinstance(r, CheckoutResult) and r.order is not None]


async def assert_captured_once(c: Container, results: list[CheckoutResult]) -> None:
    """Every order's payment is captured, under one authorisation and one capture."""
    for r in results:
        assert r.order is not None
        payment = await c.provider.retrieve(r.order.payment_id)
        assert payment.status is PaymentStatus.CAPTURED
    assert await rows(c, sandbox_payments) == len(results)
    assert await rows(c, sandbox_operations, "%:capture") == len(results)
    assert await rows(c, sandbox_operations) == 2 * len(results)


async def test_a_burst_writes_its_payments_in_the_checkouts_transactions(
    container: Container,
) -> None:
    c = container
    shop = await seed_shop(c, units=6, skus=2)
    assert isinstance(c.provider, WritesInTransaction)

    results = await pay_all(c, shop.drop_id, shop.skus, [VISA] * 12)

    assert len(paid(results)) == 12, results
    await assert_captured_once(c, paid(results))
    own = sandbox(c).writer
    assert own is not None and own.stats.jobs == 0, "no payment needed a transaction of its own"
    assert c.checkout.starter is not None and c.checkout.starter.stats.largest > 1
    assert c.checkout.writer is not None and c.checkout.writer.stats.largest > 1


async def test_a_refused_authorisation_in_a_batch_fails_that_checkout_alone(
    container: Container,
) -> None:
    """The provider-error card is refused before anything of it is written: its checkout
    stays recorded (``processing``, for recovery) with no payment; a declined card is a
    payment like any other; the rest of the batch is paid."""
    c = container
    shop = await seed_shop(c, units=5)
    cards = [VISA, PROVIDER_ERROR, VISA, DECLINED, VISA]

    results = await pay_all(c, shop.drop_id, shop.skus, cards)

    assert isinstance(results[1], PaymentProviderError), results
    assert isinstance(results[3], PaymentDeclined), results
    assert len(paid(results)) == 3
    async with c.uow(readonly=True) as uow:
        checkouts = await uow.orders.list_checkouts(shop.drop_id)
    assert sorted(ch.status for ch in checkouts) == sorted(
        [CheckoutStatus.SUCCEEDED] * 3 + [CheckoutStatus.FAILED, CheckoutStatus.PROCESSING]
    )
    (errored,) = [ch for ch in checkouts if ch.status is CheckoutStatus.PROCESSING]
    assert errored.payment_method == PROVIDER_ERROR
    assert await rows(c, sandbox_payments) == 4  # three paid, one declined, none for 0119
    assert await rows(c, sandbox_operations, errored.id) == 0
    assert c.checkout.starter is not None and c.checkout.starter.stats.fallbacks == 0


class FailingCommit:
    """Makes the next commit of ``writer`` (a group-commit writer) fail once, as a full
    disk or a lost connection would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, writer: GroupCommit[Any, Any, Any]):
        self.failed = 0
        real = writer._commit

        async def commit(tx: Any) -> None:
            if not self.failed:
                self.failed += 1
                raise OperationalError("COMMIT", {}, Exception("disk I/O error (injected)"))
            await real(tx)

        monkeypatch.setattr(writer, "_commit", commit)


@pytest.mark.parametrize("batch", ["starts", "orders"])
async def test_a_failed_batch_takes_its_payments_with_it_and_each_is_paid_once(
    container: Container, monkeypatch: pytest.MonkeyPatch, batch: str
) -> None:
    """The batch's authorisations (or captures) roll back with its checkouts (or
    orders); each checkout is then paid alone through the provider's own calls, and
    every order has one payment, captured once."""
    c = container
    shop = await seed_shop(c, units=4, skus=2)
    mine = c.checkout.starter if batch == "starts" else c.checkout.writer
    assert mine is not None
    failing = FailingCommit(monkeypatch, mine)

    results = await pay_all(c, shop.drop_id, shop.skus, [VISA] * 8)

    assert failing.failed == 1
    assert len(paid(results)) == 8, results
    await assert_captured_once(c, paid(results))
    assert mine.stats.fallbacks == 1 and mine.stats.fallback_jobs > 1
    own = sandbox(c).writer
    assert own is not None and own.stats.jobs >= mine.stats.fallback_jobs, own.stats


async def test_a_sale_the_ledger_refuses_in_a_batch_is_refunded_and_the_rest_paid(
    container: Container,
) -> None:
    """The ledger has one unit fewer than the engine believes: the batch (its captures
    with it) is rolled back, each checkout is captured and written alone, and the one
    the ledger refuses is refunded; every payment was captured once."""
    c = container
    shop = await seed_shop(c, units=5)
    sku = shop.skus[0]
    await sell_elsewhere(c, shop.drop_id, sku)  # a unit the engine does not know was sold

    results = await pay_all(c, shop.drop_id, shop.skus, [VISA] * 5)

    refused = [r for r in results if isinstance(r, LedgerRefused)]
    assert len(refused) == 1 and len(paid(results)) == 4, results
    assert c.checkout.writer is not None and c.checkout.writer.stats.fallbacks >= 1
    payments = {
        (await c.provider.retrieve(pid)).status for pid in await _payment_ids(c, shop.drop_id)
    }
    assert payments == {PaymentStatus.CAPTURED, PaymentStatus.REFUNDED}
    assert await rows(c, sandbox_payments) == 5
    assert await rows(c, sandbox_operations, "%:capture") == 5
    assert await rows(c, sandbox_operations, "%:refund") == 1


async def _payment_ids(c: Container, drop_id: str) -> list[str]:
    async with c.uow(readonly=True) as uow:
        return [ch.payment_id for ch in await uow.orders.list_checkouts(drop_id) if ch.payment_id]


async def test_a_sandbox_writes_only_in_its_own_database(sqlite_url: str, tmp_path: Any) -> None:
    """``writes_in`` is true for a connection of the sandbox's own engine only: a
    sandbox on another database is called, never joined."""
    mine, other = create_engine(sqlite_url), create_engine(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    try:
        p = SandboxProvider(mine)
        async with mine.connect() as conn:
            assert p.writes_in(conn)
        async with other.connect() as conn:
            assert not p.writes_in(conn)
    finally:
        await mine.dispose()
        await other.dispose()

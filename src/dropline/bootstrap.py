"""The one place that picks concrete adapters from settings and wires the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from dropline.config import Settings
from dropline.domain.errors import InvalidInput
from dropline.engine import create_engine as create_stock_engine
from dropline.payments.sandbox import SandboxProvider
from dropline.services.access import AccessService
from dropline.services.background import Job, standard_jobs
from dropline.services.catalog import CatalogService
from dropline.services.checkout import CheckoutService
from dropline.services.drop_catalog import DropCatalogCache
from dropline.services.drops import DropService
from dropline.services.holds import HoldService
from dropline.services.ports import Clock, PaymentProvider, StockEngine, SystemClock
from dropline.services.stock import StockService
from dropline.store.db import create_engine
from dropline.store.uow import UowFactory


@dataclass
class Container:
    settings: Settings
    db: AsyncEngine
    engine: StockEngine
    provider: PaymentProvider
    clock: Clock
    uow: UowFactory
    catalog: CatalogService
    stock: StockService
    drops: DropService
    holds: HoldService
    checkout: CheckoutService
    access: AccessService
    jobs: list[tuple[str, float, Job]] = field(default_factory=list)

    async def close(self) -> None:
        await self.engine.close()
        await self.db.dispose()


def make_provider(settings: Settings, db: AsyncEngine) -> PaymentProvider:
    if settings.payment_provider == "sandbox":
        return SandboxProvider(db)
    if settings.payment_provider == "stripe":
        from dropline.payments.stripe_provider import StripeProvider

        return StripeProvider(
            settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            webhook_secret=settings.stripe_webhook_secret or None,
        )
    raise InvalidInput(f"unknown payment provider {settings.payment_provider!r}")


async def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: StockEngine | None = None,
    provider: PaymentProvider | None = None,
) -> Container:
    """Wire everything for ``settings``; tests may pass their own clock/engine/provider."""
    clock = clock or SystemClock()
    db = create_engine(settings.database_url)
    uow = UowFactory(db, lambda: datetime.fromtimestamp(clock.now(), UTC))
    engine = engine or create_stock_engine(settings.engine_url)
    provider = provider or make_provider(settings, db)
    cache = DropCatalogCache(uow)
    drops = DropService(uow, engine, cache)
    checkout = CheckoutService(
        uow, engine, provider, cache, drops, clock, paying_cap_s=settings.paying_cap_s
    )
    container = Container(
        settings=settings,
        db=db,
        engine=engine,
        provider=provider,
        clock=clock,
        uow=uow,
        catalog=CatalogService(uow),
        stock=StockService(uow),
        drops=drops,
        holds=HoldService(engine, cache, drops, clock),
        checkout=checkout,
        access=AccessService(uow, settings.buyer_token_secret),
    )
    container.jobs = standard_jobs(
        engine,
        clock,
        uow,
        checkout,
        settings.expiry_interval_s,
        settings.reconcile_interval_s,
        settings.recover_after_s,
    )
    return container

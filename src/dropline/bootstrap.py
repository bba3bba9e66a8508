"""The one place that picks concrete adapters from settings and wires the services."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from dropline.config import Settings, dev_secrets, unsafe_warnings
from dropline.domain.errors import InvalidInput
from dropline.domain.fulfilment.rules import SlaPolicy
from dropline.domain.insight.funnel import Joined
from dropline.domain.platform.attempts import AttemptWindow
from dropline.domain.readiness.checklist import key_mode
from dropline.domain.readiness.rehearsal import rehearsal_methods
from dropline.engine import create_engine as create_stock_engine
from dropline.payments.sandbox import SandboxProvider
from dropline.services.aftersales.cancellations import CancellationService
from dropline.services.aftersales.problem_links import ProblemLinks
from dropline.services.aftersales.problems import ProblemService
from dropline.services.aftersales.returns import ReturnService
from dropline.services.catalog.products import CatalogService
from dropline.services.fulfilment.messages import MessageService
from dropline.services.fulfilment.pick_lists import PickListService
from dropline.services.fulfilment.shipping import FulfilmentService
from dropline.services.fulfilment.webhooks import WebhookPolicy, WebhookService
from dropline.services.insight.funnel import FunnelService
from dropline.services.insight.lessons import LessonService
from dropline.services.insight.monitor import MonitorService
from dropline.services.insight.refused_taps import RefusedTaps
from dropline.services.insight.report import ReportService
from dropline.services.live.access_windows import AccessWindowService
from dropline.services.live.checkout import CheckoutService
from dropline.services.live.drop_catalog import DropCatalogCache
from dropline.services.live.drops import DropService
from dropline.services.live.holds import HoldService
from dropline.services.live.restocks import RestockService
from dropline.services.live.schedule import DropSchedule
from dropline.services.live.waitlist import WaitlistService
from dropline.services.live.waitlist_autocharge import WaitlistAutocharge
from dropline.services.live.waitlist_demand import WaitlistDemand
from dropline.services.live.waitlist_links import ClaimLinks
from dropline.services.live.waitlist_serving import WaitlistServing
from dropline.services.planning.launches import LaunchService
from dropline.services.planning.scoring import LaunchScoreService
from dropline.services.planning.watch import LaunchWatch
from dropline.services.platform.access import AccessService
from dropline.services.platform.audit import AuditService
from dropline.services.platform.background import Job, standard_jobs
from dropline.services.platform.buyer_tokens import BuyerTokenPolicy, BuyerTokens
from dropline.services.platform.metrics import configure as configure_metrics
from dropline.services.platform.ui_sessions import UiSessionService
from dropline.services.ports import (
    BlobStore,
    Clock,
    KeyEvents,
    Mailer,
    PaymentProvider,
    SigningKeys,
    StockEngine,
    SystemClock,
    WebhookTransport,
)
from dropline.services.readiness.gate import GatePolicy, ReadinessService
from dropline.services.readiness.rehearsal import Line, RehearsalPolicy, RehearsalService
from dropline.services.stock.bins import BinService
from dropline.services.stock.counts import CountService
from dropline.services.stock.ledger import StockService
from dropline.services.supply.preorder_allocation import PreorderAllocationService
from dropline.services.supply.preorder_lifecycle import PreorderLifecycleService
from dropline.services.supply.preorder_links import PreorderLinks
from dropline.services.supply.preorders import PreorderService
from dropline.services.supply.production import ProductionService
from dropline.services.supply.qc import QcService
from dropline.services.supply.qc_specs import QcSpecService
from dropline.services.supply.qc_trace import QcTraceService
from dropline.services.supply.quality import QualityService
from dropline.services.supply.scorecard import ScorecardService
from dropline.store.blobs import LocalBlobs, S3Blobs
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
    bins: BinService
    counts: CountService
    drops: DropService
    holds: HoldService
    access_windows: AccessWindowService
    checkout: CheckoutService
    access: AccessService
    monitor: MonitorService
    reports: ReportService
    lessons: LessonService
    funnel: FunnelService
    refused_taps: RefusedTaps
    preorders: PreorderService
    preorder_lifecycle: PreorderLifecycleService
    preorder_allocation: PreorderAllocationService
    preorder_links: PreorderLinks
    production: ProductionService
    qc: QcService
    quality: QualityService
    scorecards: ScorecardService
    qc_specs: QcSpecService
    qc_trace: QcTraceService
    webhooks: WebhookService
    messages: MessageService
    fulfilment: FulfilmentService
    pick_lists: PickListService
    returns: ReturnService
    problems: ProblemService
    cancellations: CancellationService
    ui_sessions: UiSessionService
    login_attempts: AttemptWindow
    launches: LaunchService
    launch_scores: LaunchScoreService
    launch_watch: LaunchWatch
    audit: AuditService
    readiness: ReadinessService
    rehearsals: RehearsalService = field(init=False)
    waitlist: WaitlistService = field(init=False)
    waitlist_serving: WaitlistServing = field(init=False)
    waitlist_demand: WaitlistDemand = field(init=False)
    waitlist_autocharge: WaitlistAutocharge = field(init=False)
    restocks: RestockService = field(init=False)
    jobs: list[tuple[str, float, Job]] = field(default_factory=list)
    #: Jobs every API process runs for itself, whatever ``background_tasks`` says.
    process_jobs: list[tuple[str, float, Job]] = field(default_factory=list)

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # insight counts; the database may be gone
            await self.refused_taps.flush()
        await self.access.close()
        await self.webhooks.transport.close()
        await self.engine.close()
        await self.db.dispose()


def make_provider(settings: Settings, db: AsyncEngine) -> PaymentProvider:
    if settings.payment_provider == "sandbox":
        return SandboxProvider(db, batching=settings.group_commit)
    if settings.payment_provider == "stripe":
        from dropline.payments.stripe_provider import StripeProvider

        return StripeProvider(
            settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            webhook_secret=settings.stripe_webhook_secret or None,
            no_redirects=settings.stripe_no_redirects,
        )
    raise InvalidInput(f"unknown payment provider {settings.payment_provider!r}")


def make_blobs(settings: Settings) -> BlobStore:
    """Photos under the data directory, or in the S3-compatible bucket when one is set."""
    if not settings.photo_bucket:
        return LocalBlobs(settings.data_dir)
    return S3Blobs(
        settings.photo_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
        prefix=settings.s3_prefix,
    )


def make_buyer_tokens(settings: Settings) -> BuyerTokens:
    """Buyer token verification: HS256 keys and v1 from settings, and the creator's JWKS
    when ``buyer_token_jwks_url`` is set. Tokens are checked against the real time (the
    creator's site mints them with it), not an injected clock."""
    jwks: SigningKeys | None = None
    if settings.buyer_token_jwks_url:
        from dropline.auth.jwks import JwksKeys

        jwks = JwksKeys(
            settings.buyer_token_jwks_url, refresh_s=settings.buyer_token_jwks_refresh_s
        )
    return BuyerTokens(BuyerTokenPolicy.from_settings(settings), jwks)


def make_key_events(settings: Settings) -> KeyEvents:
    """How API key changes reach every process: Redis pub/sub with the Redis engine (many
    processes), nothing to send with the in-process engine (one)."""
    from dropline.auth.key_events import LocalKeyEvents, RedisKeyEvents

    if settings.engine_url.startswith(("redis://", "rediss://")):
        return RedisKeyEvents(settings.engine_url)
    return LocalKeyEvents()


def make_mailer(settings: Settings) -> Mailer:
    from dropline.mail.mailers import DatabaseMailer, SmtpMailer

    if settings.mailer == "database":
        return DatabaseMailer()
    if settings.mailer == "smtp":
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            tls=settings.smtp_tls,
            timeout_s=settings.smtp_timeout_s,
        )
    raise InvalidInput(f"unknown mailer {settings.mailer!r}; 'database' or 'smtp'")


async def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: StockEngine | None = None,
    provider: PaymentProvider | None = None,
    transport: WebhookTransport | None = None,
    mailer: Mailer | None = None,
) -> Container:
    """Wire everything for ``settings``; tests may pass their own clock/engine/provider."""
    configure_metrics(settings.metrics)  # before the services take their instruments
    clock = clock or SystemClock()
    pool: dict[str, Any] = (
        {}
        if settings.is_sqlite
        else {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow}
    )
    db = create_engine(settings.database_url, **pool)
    uow = UowFactory(db, lambda: datetime.fromtimestamp(clock.now(), UTC))
    engine = engine or create_stock_engine(
        settings.engine_url, sold_out_window_s=settings.sold_out_window_s
    )
    provider = provider or make_provider(settings, db)
    cache = DropCatalogCache(uow)
    drops = DropService(uow, engine, cache)
    preorder_links = PreorderLinks(settings.buyer_token_secret, settings.base_url, clock)
    preorders = PreorderService(
        uow, engine, provider, clock, preorder_links, on_change=lambda _changed: cache.clear()
    )
    preorder_allocation = PreorderAllocationService(uow, clock)
    checkout = CheckoutService(
        uow,
        engine,
        provider,
        cache,
        drops,
        clock,
        paying_cap_s=settings.paying_cap_s,
        preorders=preorders,
        claim_lease_s=settings.recover_after_s,
        order_prefix=settings.order_prefix,
        group_commit=settings.group_commit,
    )
    from dropline.webhooks.http import HttpxTransport, generate_secret

    webhooks = WebhookService(
        uow,
        transport or HttpxTransport(settings.webhook_timeout_s),
        clock,
        generate_secret,
        WebhookPolicy(
            schedule=tuple(settings.webhook_retry_schedule),
            lease_s=settings.webhook_lease_s,
            pause_after=settings.webhook_pause_after,
            pause_after_s=settings.webhook_pause_after_s,
        ),
    )
    messages = MessageService(uow, mailer or make_mailer(settings), clock, settings.shop_name)
    preorder_lifecycle = PreorderLifecycleService(
        uow,
        engine,
        provider,
        clock,
        preorders,
        preorder_links,
        messages,
        on_change=lambda _changed: cache.clear(),
    )
    fulfilment = FulfilmentService(
        uow,
        clock,
        messages,
        webhooks,
        SlaPolicy(settings.sla_hours, settings.sla_business_days, settings.sla_at_risk_hours),
        preorders=preorder_lifecycle,
    )
    checkout.hooks = fulfilment
    preorder_allocation.ready_hook = fulfilment.ready_to_fulfill
    production = ProductionService(uow, clock, preorder_lifecycle)
    launches = LaunchService(uow, clock, production)
    returns = ReturnService(uow, provider, clock, messages, settings.return_window_days)
    problem_links = ProblemLinks(settings.buyer_token_secret, settings.base_url, clock)
    quality = QualityService(uow, clock)
    reports = ReportService(uow, cache)
    refused_taps = RefusedTaps(uow, clock)
    funnel = FunnelService(uow, cache, clock, refused_taps)
    problems = ProblemService(
        uow,
        returns,
        messages,
        problem_links,
        clock,
        settings.data_dir,
        quality,
        make_blobs(settings),
    )
    messages.problem_link = problems.link_for
    container = Container(
        settings=settings,
        db=db,
        engine=engine,
        provider=provider,
        clock=clock,
        uow=uow,
        catalog=CatalogService(uow, on_drops_changed=cache.invalidate),
        stock=StockService(uow),
        bins=BinService(uow),
        counts=CountService(uow, clock),
        drops=drops,
        holds=HoldService(engine, cache, drops, clock, refused_taps),
        access_windows=AccessWindowService(uow, engine, drops, clock),
        checkout=checkout,
        access=AccessService(uow, make_buyer_tokens(settings), make_key_events(settings), clock),
        monitor=MonitorService(uow, engine, drops, cache, clock),
        reports=reports,
        lessons=LessonService(uow, reports, clock, funnel),
        funnel=funnel,
        refused_taps=refused_taps,
        preorders=preorders,
        preorder_lifecycle=preorder_lifecycle,
        preorder_allocation=preorder_allocation,
        preorder_links=preorder_links,
        production=production,
        qc=QcService(uow, preorder_allocation),
        quality=quality,
        scorecards=ScorecardService(uow),
        qc_specs=QcSpecService(uow),
        qc_trace=QcTraceService(uow, settings.data_dir),
        ui_sessions=UiSessionService(uow, clock),
        login_attempts=AttemptWindow(settings.ui_login_max_failures, settings.ui_login_window_s),
        webhooks=webhooks,
        messages=messages,
        fulfilment=fulfilment,
        pick_lists=PickListService(uow, clock),
        returns=returns,
        problems=problems,
        audit=AuditService(uow),
        cancellations=CancellationService(
            uow, engine, provider, clock, messages, on_change=lambda _changed: cache.clear()
        ),
        launches=launches,
        launch_scores=LaunchScoreService(uow, clock),
        launch_watch=LaunchWatch(uow, clock, launches),
        readiness=ReadinessService(
            uow,
            clock,
            provider,
            webhooks.transport,
            GatePolicy(
                enforce=settings.readiness_gate == "enforce",
                key_mode=key_mode(settings.payment_provider, settings.stripe_api_key),
                expected_mode=settings.payment_mode,
                returns_policy=settings.returns_policy,
                dev_secrets=tuple(dev_secrets(settings)),
                unsafe=tuple(unsafe_warnings(settings)),
                shop_name=settings.shop_name,
            ),
        ),
    )
    if settings.readiness_gate == "enforce":
        drops.gate = container.readiness.guard
    line = Line(checkout, container.cancellations, container.returns)
    if key_mode(settings.payment_provider, settings.stripe_api_key) == "live":
        line = Line(
            None,
            None,
            None,
            "the payment keys are live; a rehearsal pays in test mode "
            "only: set DROPLINE_STRIPE_TEST_API_KEY",
        )
        if settings.stripe_test_api_key:
            test = make_provider(
                settings.model_copy(update={"stripe_api_key": settings.stripe_test_api_key}), db
            )
            test_checkout = CheckoutService(
                uow,
                engine,
                test,
                cache,
                drops,
                clock,
                paying_cap_s=settings.paying_cap_s,
                preorders=preorders,
                group_commit=settings.group_commit,
            )
            test_checkout.hooks = fulfilment
            line = Line(
                test_checkout,
                CancellationService(
                    uow, engine, test, clock, messages, on_change=lambda _changed: cache.clear()
                ),
                ReturnService(uow, test, clock, messages, settings.return_window_days),
            )
    container.rehearsals = RehearsalService(
        uow,
        clock,
        catalog=container.catalog,
        stock=container.stock,
        drops=drops,
        holds=container.holds,
        line=line,
        fulfilment=fulfilment,
        webhooks=webhooks,
        reports=container.reports,
        readiness=container.readiness,
        policy=RehearsalPolicy(
            buyers=settings.rehearsal_buyers,
            timeout_s=settings.rehearsal_timeout_s,
            tracking_wait_s=settings.rehearsal_tracking_wait_s,
            methods=rehearsal_methods(settings.test_payment_methods),
            email=settings.rehearsal_email or settings.smtp_from,
        ),
    )
    container.monitor.sla_report = fulfilment.sla_report
    container.monitor.endpoints = webhooks.list_endpoints
    container.jobs = standard_jobs(
        engine,
        clock,
        uow,
        checkout,
        settings.expiry_interval_s,
        settings.reconcile_interval_s,
        webhooks=webhooks,
        messages=messages,
        webhook_interval_s=settings.webhook_interval_s,
        message_interval_s=settings.message_interval_s,
        message_rate_per_s=settings.message_rate_per_s,
        recover_after_s=settings.recover_after_s,
        schedule=DropSchedule(drops),
    )
    links = ClaimLinks(settings.buyer_token_secret, settings.base_url, clock)
    serving = WaitlistServing(uow, engine, drops, clock, links, settings.shop_name)
    demand = container.waitlist_demand = WaitlistDemand(uow)
    container.waitlist_serving = serving
    container.waitlist = WaitlistService(uow, engine, drops, clock, links, serving)
    container.waitlist_autocharge = WaitlistAutocharge(
        uow, engine, container.waitlist, serving, checkout, provider, clock, settings.shop_name
    )
    serving.autocharge = container.waitlist_autocharge
    container.restocks = RestockService(
        uow, drops, serving, demand, clock, container.access_windows
    )

    async def waitlist_buyers(drop_id: str) -> list[Joined]:
        # who stood in each line and what they got through it: the lessons' unserved
        # demand, each buyer once
        return [Joined(*row) for row in await demand.buyers(drop_id)]

    container.funnel.waitlist_joins = waitlist_buyers
    container.monitor.audience = container.reports.audience = container.restocks.summary
    container.jobs += [
        # restock waves first: a due wave's units are then offered by the same pass
        ("restock-waves", settings.expiry_interval_s, container.restocks.run_once),
        ("waitlist-claims", settings.expiry_interval_s, container.waitlist_serving.serve_once),
        ("waitlist-autocharge", settings.expiry_interval_s, container.waitlist_autocharge.run_once),
        ("preorder-deadlines", settings.reconcile_interval_s, preorder_lifecycle.process_deadlines),
        (
            "preorder-authorizations",
            settings.reconcile_interval_s,
            preorder_lifecycle.capture_expiring,
        ),
        ("production-reorders", settings.reconcile_interval_s, preorder_allocation.check_reorders),
        ("return-refunds", settings.reconcile_interval_s, container.returns.finish_refunds),
        ("cancel-refunds", settings.reconcile_interval_s, container.cancellations.finish_refunds),
        ("launch-watch", settings.reconcile_interval_s, container.launch_watch.watch),
    ]
    container.process_jobs = [
        ("api-key-last-used", 10.0, container.access.flush_usage),
        # holds refused as sold out, gathered by this process (the lessons' unserved demand)
        ("refused-taps", refused_taps.interval_s, refused_taps.flush),
    ]
    return container

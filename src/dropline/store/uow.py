"""The unit of work: one database transaction and the repositories that use it.

Services open one with ``async with uow_factory() as uow:``, call repositories, record
domain events with ``uow.record(...)``, and ``await uow.commit()``. Events become outbox
rows inside the same transaction, so a change and its event are never separated.
Leaving the block without committing rolls everything back.

The audit trail rides on the same commit: when the change is made by someone
(``services/context.actor``, set by the API key check and the ``/ui`` login), every
recorded event also becomes an audit row (action = the event type, resource = its
aggregate, after = its payload, before = what the trail last saw of that resource), and
so does every ``uow.audit(...)`` a service adds for a change that has no event (keys,
webhook endpoints, monitor settings). Background work and buyers' holds and checkouts
(no actor) leave no audit rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.services.context import actor as current_actor
from dropline.services.context import request_id as current_request_id
from dropline.store import write_gate
from dropline.store.aftersales.problem_repo import ProblemRepository
from dropline.store.aftersales.repo import ReturnRepository
from dropline.store.catalog.repo import CatalogRepository
from dropline.store.fulfilment.repo import MessageRepository, ShipmentRepository, WebhookRepository
from dropline.store.live.access_repo import DropAccessRepository
from dropline.store.live.drop_repo import DropRepository
from dropline.store.live.hold_event_repo import HoldEventRepository
from dropline.store.live.order_repo import OrderRepository
from dropline.store.live.waitlist_repo import WaitlistRepository
from dropline.store.live.webhook_inbox_repo import WebhookInboxRepository
from dropline.store.planning.repo import LaunchRepository
from dropline.store.platform.access_repo import AccessRepository
from dropline.store.platform.audit_repo import AuditRepository
from dropline.store.platform.outbox_repo import OutboxRepository
from dropline.store.platform.session_repo import SessionResetRepository
from dropline.store.readiness.repo import ReadinessRepository
from dropline.store.stock.bins_repo import BinRepository
from dropline.store.stock.counts_repo import CountRepository
from dropline.store.stock.repo import StockRepository
from dropline.store.supply.quality_repo import QualityRepository
from dropline.store.supply.repo import ProductionRepository


class UnitOfWork:
    def __init__(
        self,
        engine: AsyncEngine,
        now: Callable[[], datetime] | None = None,
        *,
        readonly: bool = False,
    ) -> None:
        self._engine = engine
        self._readonly = readonly
        self._now = now or (lambda: datetime.now(UTC))
        self._conn: AsyncConnection | None = None
        self._events: list[DomainEvent] = []
        self._audits: list[tuple[str, str, str, Any, Any]] = []
        self._gate: asyncio.Lock | None = None
        self._after_commit: list[Callable[[], None]] = []

    @property
    def conn(self) -> AsyncConnection:
        assert self._conn is not None, "unit of work used outside 'async with'"
        return self._conn

    async def __aenter__(self) -> UnitOfWork:
        if not self._readonly:
            self._gate = await write_gate.acquire(self._engine)  # SQLite: one writer
        try:
            self._conn = await self._engine.connect()
            try:
                if self._readonly:
                    # SQLite: readers need no write lock (see store.db); ignored elsewhere.
                    await self._conn.execution_options(sqlite_begin="DEFERRED")
                await self._conn.begin()
            except BaseException:
                await self._conn.close()
                self._conn = None
                raise
        except BaseException:
            self._release_gate()
            raise
        now = self._now
        self.catalog = CatalogRepository(self._conn, now)
        self.stock = StockRepository(self._conn, now)
        self.drops = DropRepository(self._conn, now)
        self.drop_access = DropAccessRepository(self._conn, now)
        self.orders = OrderRepository(self._conn, now)
        self.outbox = OutboxRepository(self._conn, now)
        self.hold_events = HoldEventRepository(self._conn, now)
        self.access = AccessRepository(self._conn, now)
        self.production = ProductionRepository(self._conn, now)
        self.shipments = ShipmentRepository(self._conn, now)
        self.webhooks = WebhookRepository(self._conn, now)
        self.messages = MessageRepository(self._conn, now)
        self.webhooks_in = WebhookInboxRepository(self._conn, now)
        self.returns = ReturnRepository(self._conn, now)
        self.problems = ProblemRepository(self._conn, now)
        self.quality = QualityRepository(self._conn, now)
        self.session_resets = SessionResetRepository(self._conn, now)
        self.bins = BinRepository(self._conn, now)
        self.counts = CountRepository(self._conn, now)
        self.readiness = ReadinessRepository(self._conn, now)
        self.launches = LaunchRepository(self._conn, now)
        self.audit_log = AuditRepository(self._conn, now)
        self.waitlist = WaitlistRepository(self._conn, now)
        self._events = []
        self._audits = []
        self._after_commit = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            if self._conn.in_transaction():
                await self._conn.rollback()
        finally:
            try:
                await self._conn.close()
            finally:
                self._conn = None
                self._release_gate()

    def _release_gate(self) -> None:
        if self._gate is not None:
            self._gate.release()
            self._gate = None

    def record(self, event: DomainEvent) -> None:
        """Queue a domain event; it is written to the outbox by ``commit``."""
        self._events.append(event)

    def audit(
        self,
        action: str,
        resource_type: str,
        resource_id: str,
        *,
        before: Any = None,
        after: Any = None,
    ) -> None:
        """Queue an audit row for a change that records no domain event; written by
        ``commit`` when an actor made the change (see the module docstring)."""
        self._audits.append((action, resource_type, resource_id, before, after))

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this transaction has committed (never if it is rolled
        back): for what a caller may only believe once the rows are there, such as a
        response stored in them."""
        self._after_commit.append(callback)

    async def commit(self) -> None:
        who = current_actor.get()
        if who is not None and (self._events or self._audits):
            await self._write_audit(who.kind, who.id, who.name)
        self._audits = []
        if self._events:
            await self.outbox.add_many(self._events)
            self._events = []
        await self.conn.commit()
        self._release_gate()  # the SQLite write lock is free again: let the next writer in
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    async def _write_audit(self, kind: str, actor_id: str, name: str) -> None:
        rid = current_request_id.get()
        rows = []
        items = [
            (e.type, e.aggregate_type, e.aggregate_id, None, dict(e.payload)) for e in self._events
        ] + self._audits
        for action, rtype, rid_, before, after in items:
            if before is None:
                before = await self.audit_log.last_after(rtype, rid_)
            rows.append(
                {
                    "id": new_id("aud"),
                    "actor_kind": kind,
                    "actor_id": actor_id,
                    "actor_name": name,
                    "action": action,
                    "resource_type": rtype,
                    "resource_id": rid_,
                    "before": before,
                    "after": after,
                    "request_id": rid,
                }
            )
        await self.audit_log.add_many(rows)

    async def rollback(self) -> None:
        self._events = []
        self._audits = []
        self._after_commit = []
        await self.conn.rollback()
        self._release_gate()


class UowFactory:
    """Makes units of work on one engine with one clock: ``uow()`` to write,
    ``uow(readonly=True)`` to read."""

    def __init__(self, engine: AsyncEngine, now: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.now = now or (lambda: datetime.now(UTC))

    def __call__(self, *, readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(self.engine, self.now, readonly=readonly)

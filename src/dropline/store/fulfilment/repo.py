"""Repositories for shipments, webhook endpoints/deliveries, inbound events and messages.

Claiming background work follows one pattern: select due rows (``FOR UPDATE SKIP LOCKED``
on PostgreSQL, the write lock on SQLite), stamp them with a lease token and a
``locked_until`` time, commit, do the slow work outside any transaction, then finish with
a compare-and-set on the lease. A worker that dies mid-way simply lets its lease lapse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dropline.domain.fulfilment.rules import DUE_STATUSES, DeliveryStatus, MessageStatus
from dropline.store.base import Repository, by_age
from dropline.store.fulfilment.tables import (
    inbound_events,
    messages,
    outbox_cursors,
    shipments,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from dropline.store.live.tables import orders
from dropline.store.platform.tables import outbox

Row = dict[str, Any]
_DUE = [s.value for s in DUE_STATUSES]


def _attach_statement(mod: Any) -> Any:
    stmt = mod.insert(shipments)
    return stmt.on_conflict_do_update(
        index_elements=["checkout_id"],
        set_={
            "order_id": stmt.excluded.order_id,
            "ship_by": stmt.excluded.ship_by,
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(*shipments.c)


# ShipmentRepository.attach_order's upsert, built once: {is PostgreSQL: statement}.
_ATTACH = {False: _attach_statement(sqlite), True: _attach_statement(postgresql)}


class ShipmentRepository(Repository):
    async def add(self, checkout_id: str, values: Mapping[str, Any]) -> None:
        now = self.now()
        await self.insert_ignore(
            shipments,
            [{"checkout_id": checkout_id, **values, "created_at": now, "updated_at": now}],
            ["checkout_id"],
        )

    async def attach_order(self, checkout_id: str, order_id: str, ship_by: datetime) -> Row:
        """Link the checkout's ship-to to its new order (creating an empty one if the
        storefront sent none) and set the ship-by deadline. Returns the shipment row
        (one upsert, so callers need not read it back)."""
        return (await self.attach_orders([(checkout_id, order_id, ship_by)]))[checkout_id]

    async def attach_orders(self, paid: Sequence[tuple[str, str, datetime]]) -> dict[str, Row]:
        """``attach_order`` for several (checkout id, order id, ship-by) at once, in one
        statement: the shipment rows by checkout id."""
        if not paid:
            return {}
        now = self.now()
        values = [
            {
                "checkout_id": checkout_id,
                "order_id": order_id,
                "ship_by": ship_by,
                "created_at": now,
                "updated_at": now,
            }
            for checkout_id, order_id, ship_by in paid
        ]
        rows = await self.conn.execute(_ATTACH[self.dialect == "postgresql"], values)
        return {r.checkout_id: dict(r._mapping) for r in rows}

    async def for_order(self, order_id: str) -> Row | None:
        row = (
            await self.conn.execute(select(shipments).where(shipments.c.order_id == order_id))
        ).first()
        return dict(row._mapping) if row else None

    async def for_orders(self, order_ids: Sequence[str]) -> dict[str, Row]:
        if not order_ids:
            return {}
        rows = await self.conn.execute(
            select(shipments).where(shipments.c.order_id.in_(list(order_ids)))
        )
        return {r.order_id: dict(r._mapping) for r in rows}

    async def update(self, order_id: str, **values: Any) -> None:
        await self.conn.execute(
            update(shipments)
            .where(shipments.c.order_id == order_id)
            .values(updated_at=self.now(), **values)
        )

    async def unshipped(
        self, statuses: Sequence[str], due_before: datetime, drop_id: str | None, limit: int
    ) -> list[Row]:
        """Orders not shipped yet whose ship-by is before ``due_before``, soonest first."""
        stmt = (
            select(
                orders.c.id.label("order_id"),
                orders.c.drop_id,
                orders.c.status,
                orders.c.paid_at,
                shipments.c.ship_by,
                shipments.c.service_level,
                shipments.c.stage,
            )
            .join(shipments, shipments.c.order_id == orders.c.id)
            .where(orders.c.status.in_(list(statuses)), shipments.c.ship_by <= due_before)
            .order_by(shipments.c.ship_by, orders.c.id)
            .limit(limit)
        )
        if drop_id:
            stmt = stmt.where(orders.c.drop_id == drop_id)
        return [dict(r._mapping) for r in await self.conn.execute(stmt)]

    async def record_inbound(
        self, source: str, event_id: str, update_type: str, order_id: str
    ) -> bool:
        """Remember an applied inbound event; False if it was applied before."""
        return (
            await self.insert_ignore(
                inbound_events,
                [
                    {
                        "source": source,
                        "event_id": event_id,
                        "update_type": update_type,
                        "order_id": order_id,
                        "received_at": self.now(),
                    }
                ],
                ["source", "event_id"],
            )
            == 1
        )


class WebhookRepository(Repository):
    # ---------------------------------------------------------------- endpoints
    async def add_endpoint(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(webhook_endpoints).values(**values))

    async def get_endpoint(self, endpoint_id: str, *, lock: bool = False) -> Row | None:
        stmt = select(webhook_endpoints).where(
            webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.deleted.is_(False)
        )
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return dict(row._mapping) if row else None

    async def list_endpoints(self) -> list[Row]:
        rows = await self.conn.execute(
            select(webhook_endpoints)
            .where(webhook_endpoints.c.deleted.is_(False))
            .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
        )
        return [dict(r._mapping) for r in rows]

    async def update_endpoint(self, endpoint_id: str, **values: Any) -> None:
        await self.conn.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(updated_at=self.now(), **values)
        )

    async def count_failure(self, endpoint_id: str, now: datetime) -> tuple[int, datetime]:
        """Add one to the endpoint's consecutive failures; returns the new count and when
        the current run of failures started."""
        e = webhook_endpoints
        await self.conn.execute(
            update(e)
            .where(e.c.id == endpoint_id)
            .values(
                consecutive_failures=e.c.consecutive_failures + 1,
                failing_since=func.coalesce(e.c.failing_since, now),
            )
        )
        row = (
            await self.conn.execute(
                select(e.c.consecutive_failures, e.c.failing_since).where(e.c.id == endpoint_id)
            )
        ).one()
        return int(row.consecutive_failures), row.failing_since or now

    # ---------------------------------------------------------------- fan-out
    async def cursor(self, name: str) -> int:
        """The consumer's position, locking its row so only one fan-out runs at a time."""
        await self.insert_ignore(
            outbox_cursors, [{"name": name, "last_seq": 0, "updated_at": self.now()}], ["name"]
        )
        stmt = select(outbox_cursors.c.last_seq).where(outbox_cursors.c.name == name)
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        return int(await self.conn.scalar(stmt) or 0)

    async def set_cursor(self, name: str, seq: int) -> None:
        await self.conn.execute(
            update(outbox_cursors)
            .where(outbox_cursors.c.name == name)
            .values(last_seq=seq, updated_at=self.now())
        )

    async def outbox_after(self, seq: int, limit: int) -> list[Row]:
        """Outbox rows after ``seq`` without their payload: the fan-out only routes
        events, and decoding every hold event's JSON was most of its cost."""
        c = outbox.c
        cols = (c.seq, c.id, c.type, c.aggregate_type, c.aggregate_id, c.occurred_at)
        rows = await self.conn.execute(
            select(*cols).where(c.seq > seq).order_by(c.seq).limit(limit)
        )
        return [dict(r._mapping) for r in rows]

    async def add_deliveries(self, rows: Sequence[Mapping[str, Any]]) -> int:
        return await self.insert_ignore(webhook_deliveries, rows, ["event_id", "endpoint_id"])

    # ---------------------------------------------------------------- dispatch
    async def claim_due(
        self, now: datetime, locked_until: datetime, lease: str, limit: int
    ) -> list[Row]:
        """Lease up to ``limit`` due deliveries of enabled endpoints, oldest event first.

        A delivery waits while an earlier event of the same aggregate is still pending or
        failing for the same endpoint, so each receiver sees one order's events in order.
        Returns the deliveries joined with their event and endpoint."""
        d = webhook_deliveries
        earlier = d.alias("earlier")
        blocked = exists().where(
            earlier.c.endpoint_id == d.c.endpoint_id,
            earlier.c.aggregate_type == d.c.aggregate_type,
            earlier.c.aggregate_id == d.c.aggregate_id,
            earlier.c.event_seq < d.c.event_seq,
            earlier.c.status.in_(_DUE),
        )
        stmt = (
            select(d.c.id)
            .join(webhook_endpoints, webhook_endpoints.c.id == d.c.endpoint_id)
            .where(
                d.c.status.in_(_DUE),
                d.c.next_attempt_at <= now,
                or_(d.c.locked_until.is_(None), d.c.locked_until <= now),
                webhook_endpoints.c.enabled.is_(True),
                webhook_endpoints.c.deleted.is_(False),
                ~blocked,
            )
            .order_by(d.c.event_seq, d.c.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(of=d, skip_locked=True)
        ids = [r.id for r in await self.conn.execute(stmt)]
        if not ids:
            return []
        await self.conn.execute(
            update(d)
            .where(d.c.id.in_(ids))
            .values(locked_until=locked_until, lease=lease, updated_at=now)
        )
        rows = await self.conn.execute(
            select(
                d,
                outbox.c.payload,
                outbox.c.occurred_at,
                outbox.c.aggregate_version,
                webhook_endpoints.c.url,
                webhook_endpoints.c.warehouse,
                webhook_endpoints.c.secret,
                webhook_endpoints.c.previous_secret,
                webhook_endpoints.c.previous_secret_expires_at,
            )
            .join(outbox, outbox.c.id == d.c.event_id)
            .join(webhook_endpoints, webhook_endpoints.c.id == d.c.endpoint_id)
            .where(d.c.id.in_(ids))
            .order_by(d.c.event_seq, d.c.id)
        )
        return [dict(r._mapping) for r in rows]

    async def finish_delivery(self, delivery_id: str, lease: str, **values: Any) -> bool:
        """Record an attempt's outcome if this worker still holds the lease."""
        result = await self.conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.lease == lease)
            .values(locked_until=None, lease=None, updated_at=self.now(), **values)
        )
        return result.rowcount == 1

    async def add_attempt(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(webhook_attempts).values(**values))

    async def get_delivery(self, delivery_id: str) -> Row | None:
        row = (
            await self.conn.execute(
                select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
            )
        ).first()
        return dict(row._mapping) if row else None

    async def list_deliveries(
        self,
        *,
        endpoint_id: str | None = None,
        status: str | None = None,
        event_id: str | None = None,
        limit: int = 100,
    ) -> list[Row]:
        stmt = (
            select(webhook_deliveries).order_by(webhook_deliveries.c.event_seq.desc()).limit(limit)
        )
        if endpoint_id:
            stmt = stmt.where(webhook_deliveries.c.endpoint_id == endpoint_id)
        if status:
            stmt = stmt.where(webhook_deliveries.c.status == status)
        if event_id:
            stmt = stmt.where(webhook_deliveries.c.event_id == event_id)
        return [dict(r._mapping) for r in await self.conn.execute(stmt)]

    async def attempts(self, delivery_id: str) -> list[Row]:
        rows = await self.conn.execute(
            select(webhook_attempts)
            .where(webhook_attempts.c.delivery_id == delivery_id)
            .order_by(webhook_attempts.c.seq)
        )
        return [dict(r._mapping) for r in rows]

    async def replay(
        self,
        now: datetime,
        *,
        delivery_id: str | None = None,
        since: datetime | None = None,
        endpoint_id: str | None = None,
    ) -> int:
        """Put failed/dead (or, for one id, any) deliveries back in the queue with a fresh
        retry schedule. Returns how many."""
        stmt = update(webhook_deliveries).values(
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            locked_until=None,
            lease=None,
            updated_at=now,
        )
        if delivery_id:
            stmt = stmt.where(webhook_deliveries.c.id == delivery_id)
        else:
            stmt = stmt.where(
                webhook_deliveries.c.status.in_(
                    [DeliveryStatus.FAILED.value, DeliveryStatus.DEAD.value]
                )
            )
            if since is not None:
                stmt = stmt.where(webhook_deliveries.c.created_at >= since)
        if endpoint_id:
            stmt = stmt.where(webhook_deliveries.c.endpoint_id == endpoint_id)
        return int((await self.conn.execute(stmt)).rowcount or 0)

    async def status_counts(self) -> dict[str, int]:
        rows = await self.conn.execute(
            select(webhook_deliveries.c.status, func.count()).group_by(webhook_deliveries.c.status)
        )
        return {s: int(n) for s, n in rows}


class MessageRepository(Repository):
    async def add(self, values: Mapping[str, Any]) -> bool:
        """Insert a message; False if one of this kind exists for the event already."""
        return await self.insert_ignore(messages, [values], ["event_id", "kind"]) == 1

    async def add_many(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """``add`` for several messages in one statement; how many were new."""
        return await self.insert_ignore(messages, rows, ["event_id", "kind"])

    async def claim_due(
        self, now: datetime, locked_until: datetime, lease: str, limit: int
    ) -> list[Row]:
        m = messages
        stmt = (
            select(m.c.id)
            .where(
                m.c.status.in_([MessageStatus.QUEUED.value, MessageStatus.FAILED.value]),
                m.c.next_attempt_at <= now,
                or_(m.c.locked_until.is_(None), m.c.locked_until <= now),
            )
            .order_by(m.c.created_at, m.c.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        ids = [r.id for r in await self.conn.execute(stmt)]
        if not ids:
            return []
        await self.conn.execute(
            update(m).where(m.c.id.in_(ids)).values(locked_until=locked_until, lease=lease)
        )
        rows = await self.conn.execute(select(m).where(m.c.id.in_(ids)).order_by(m.c.created_at))
        return [dict(r._mapping) for r in rows]

    async def finish(self, message_id: str, lease: str, **values: Any) -> bool:
        result = await self.conn.execute(
            update(messages)
            .where(and_(messages.c.id == message_id, messages.c.lease == lease))
            .values(locked_until=None, lease=None, **values)
        )
        return result.rowcount == 1

    async def get(self, message_id: str) -> Row | None:
        row = (await self.conn.execute(select(messages).where(messages.c.id == message_id))).first()
        return dict(row._mapping) if row else None

    async def list(
        self,
        *,
        order_id: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[Row]:
        """Oldest first, or the ``limit`` newest, newest first (what a person looking
        at a busy drop wants to see)."""
        stmt = select(messages).order_by(*by_age(messages, newest_first)).limit(limit)
        if order_id:
            stmt = stmt.where(messages.c.order_id == order_id)
        if status:
            stmt = stmt.where(messages.c.status == status)
        if kind:
            stmt = stmt.where(messages.c.kind == kind)
        return [dict(r._mapping) for r in await self.conn.execute(stmt)]

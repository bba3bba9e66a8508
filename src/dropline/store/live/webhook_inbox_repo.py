"""Incoming webhooks already handled, and the checkout lookups their handling needs."""

from __future__ import annotations

from sqlalchemy import select

from dropline.store.base import Repository
from dropline.store.live.tables import checkouts
from dropline.store.live.webhook_tables import processed_webhooks


class WebhookInboxRepository(Repository):
    async def seen(self, source: str, event_id: str) -> str | None:
        """The recorded outcome when the event was handled before, else None."""
        row = (
            await self.conn.execute(
                select(processed_webhooks.c.outcome).where(
                    processed_webhooks.c.source == source,
                    processed_webhooks.c.event_id == event_id,
                )
            )
        ).first()
        return None if row is None else str(row[0])

    async def record(self, source: str, event_id: str, event_type: str, outcome: str) -> bool:
        """Remember the event as handled; False when another delivery got there first
        (keyed on ``(source, event_id)``, so concurrent duplicates insert one row)."""
        inserted = await self.insert_ignore(
            processed_webhooks,
            [
                {
                    "source": source,
                    "event_id": event_id,
                    "event_type": event_type,
                    "outcome": outcome,
                    "received_at": self.now(),
                }
            ],
            ["source", "event_id"],
        )
        return inserted == 1

    async def count(self, source: str) -> int:
        rows = await self.conn.execute(
            select(processed_webhooks.c.event_id).where(processed_webhooks.c.source == source)
        )
        return len(rows.all())

    async def checkout_for_payment(self, payment_id: str) -> str | None:
        """The checkout whose provider payment is ``payment_id`` (once it is known)."""
        row = (
            await self.conn.execute(
                select(checkouts.c.id).where(checkouts.c.payment_id == payment_id).limit(1)
            )
        ).first()
        return None if row is None else str(row[0])

"""The outbox stores the same text whichever insert path wrote a row."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select, text

from dropline.bootstrap import Container
from dropline.domain.events import DomainEvent
from dropline.store.platform.tables import outbox


def event(n: int) -> DomainEvent:
    payload = {"id": f"hld_{n}", "units": {"sku_a": 2}, "note": "ü", "at": "2026-11-27T17:00:00Z"}
    return DomainEvent("hold.placed", "hold", f"hld_{n}", 1, payload, id=f"evt_{n}")


async def test_fast_and_core_inserts_store_identical_rows(container: Container) -> None:
    at = datetime(2026, 11, 27, 17, 0, 0, 123456, tzinfo=UTC)
    async with container.uow() as uow:
        await uow.outbox.add_many([event(1), event(2)], occurred_at=[at, at])
        # SQLAlchemy's own insert, for comparison (event 3)
        row = {
            "id": "evt_3",
            "type": "hold.placed",
            "aggregate_type": "hold",
            "aggregate_id": "hld_3",
            "aggregate_version": 1,
            "payload": dict(event(3).payload),
            "occurred_at": at,
        }
        await uow.conn.execute(insert(outbox), row)
        # a re-drain of the same events inserts nothing (checked below: one row each)
        await uow.outbox.add_many([event(1)], occurred_at=[at])
        await uow.commit()
    async with container.db.connect() as conn:
        raw = (
            await conn.execute(
                text(
                    "SELECT id, CAST(occurred_at AS TEXT), CAST(payload AS TEXT) FROM outbox"
                    " WHERE id IN ('evt_1', 'evt_2', 'evt_3') ORDER BY id"
                )
            )
        ).all()
        parsed = (await conn.execute(select(outbox).where(outbox.c.id == "evt_1"))).one()
    assert [r[0] for r in raw] == ["evt_1", "evt_2", "evt_3"]
    assert raw[0][1] == raw[2][1]  # same timestamp text
    assert raw[0][2].replace("hld_1", "hld_3") == raw[2][2]  # same JSON text
    assert parsed.occurred_at == at
    assert parsed.payload == event(1).payload

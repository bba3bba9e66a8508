"""hold_event_pages and hold_event_cursors: hold events a page per drop per drain pass

Every tap of a flash sale used to become an outbox row (four indexes, a JSON column);
writing it cost as much as the hold itself. Hold events are now stored as pages, and
reach the outbox only when a webhook endpoint subscribes to them
(``services/live/hold_journal.py``). The hold events already in the outbox are copied into
pages here, so reports of earlier drops stay whole; the outbox rows themselves stay
(webhook deliveries may refer to them).

Revision ID: 0007_hold_event_pages
Revises: 0006_catalog_version
Create Date: 2026-11-27 21:20:00.000000

"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from dropline.store.columns import SeqType, UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0007_hold_event_pages"
down_revision: str | Sequence[str] | None = "0006_catalog_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 250


def upgrade() -> None:
    """Upgrade schema."""
    pages = op.create_table(
        "hold_event_pages",
        sa.Column("seq", SeqType, autoincrement=True, nullable=False),
        sa.Column("drop_id", sa.String(length=40), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("tally", sa.JSON(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_hold_event_pages")),
    )
    op.create_index(
        op.f("ix_hold_event_pages_drop_id"), "hold_event_pages", ["drop_id"], unique=False
    )
    op.create_table(
        "hold_event_cursors",
        sa.Column("drop_id", sa.String(length=40), nullable=False),
        sa.Column("journal", sa.String(length=80), nullable=False),
        sa.Column("pos_major", sa.BigInteger(), nullable=False),
        sa.Column("pos_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("drop_id", name=op.f("pk_hold_event_cursors")),
    )
    _copy_outbox_hold_events(pages)


def _copy_outbox_hold_events(pages: sa.Table) -> None:
    outbox = sa.table(
        "outbox",
        sa.column("seq", sa.BigInteger()),
        sa.column("id", sa.String()),
        sa.column("type", sa.String()),
        sa.column("aggregate_type", sa.String()),
        sa.column("aggregate_version", sa.Integer()),
        sa.column("payload", sa.JSON()),
        sa.column("occurred_at", UtcDateTime()),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(outbox).where(outbox.c.aggregate_type == "hold").order_by(outbox.c.seq)
    ).all()
    now = datetime.now(UTC)
    current: list[Any] = []
    current_drop = ""

    def flush() -> None:
        if not current:
            return
        tally: dict[str, int] = {}
        for r in current:
            tally[r.type] = tally.get(r.type, 0) + 1
        conn.execute(
            sa.insert(pages),
            {
                "drop_id": current_drop,
                "n": len(current),
                "tally": tally,
                "events": [_stored(r) for r in current],
                "created_at": now,
            },
        )
        current.clear()

    for r in rows:
        drop_id = (r.payload or {}).get("drop_id") or ""
        if drop_id != current_drop or len(current) >= PAGE:
            flush()
            current_drop = drop_id
        current.append(r)
    flush()


def _epoch(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _stored(r: Any) -> list[Any]:
    """The page layout of ``services.hold_journal.stored`` from an outbox row."""
    h = r.payload or {}
    return [
        r.id,
        r.type,
        r.occurred_at.timestamp(),
        h.get("id", ""),
        h.get("buyer_id", ""),
        h.get("status", ""),
        _epoch(h.get("created_at")),
        _epoch(h.get("expires_at")),
        bool(h.get("extended", False)),
        [[i["kind"], i["ref"], i["quantity"]] for i in h.get("items", [])],
        h.get("units", {}),
        h.get("attribution", {}),
    ]


def downgrade() -> None:
    """Downgrade schema (hold events stored only as pages are lost)."""
    op.drop_table("hold_event_cursors")
    op.drop_index(op.f("ix_hold_event_pages_drop_id"), table_name="hold_event_pages")
    op.drop_table("hold_event_pages")

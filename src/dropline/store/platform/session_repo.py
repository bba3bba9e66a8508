"""When each API key's ``/ui`` sessions were last signed out everywhere."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select

from dropline.store.base import Repository
from dropline.store.platform.tables import ui_session_resets


class SessionResetRepository(Repository):
    async def reset_at(self, key_id: str) -> datetime | None:
        """The last "sign out everywhere" of ``key_id``, if any."""
        value: datetime | None = await self.conn.scalar(
            select(ui_session_resets.c.reset_at).where(ui_session_resets.c.key_id == key_id)
        )
        return value

    async def reset(self, key_id: str, at: datetime) -> None:
        """Record a "sign out everywhere" of ``key_id`` at ``at`` (the latest wins)."""
        await self.conn.execute(
            delete(ui_session_resets).where(ui_session_resets.c.key_id == key_id)
        )
        await self.conn.execute(insert(ui_session_resets).values(key_id=key_id, reset_at=at))

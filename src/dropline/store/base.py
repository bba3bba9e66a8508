"""Shared plumbing for repositories: the connection, the clock, insert-or-ignore."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


class Repository:
    def __init__(self, conn: AsyncConnection, now: Callable[[], datetime]) -> None:
        self.conn = conn
        self.now = now

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    async def insert_ignore(
        self, table: Table, rows: Sequence[Mapping[str, Any]], conflict: Sequence[str]
    ) -> int:
        """Insert rows, silently skipping those whose ``conflict`` columns already exist.
        Returns how many were inserted. Used where a retry must be harmless."""
        if not rows:
            return 0
        if self.dialect == "postgresql":
            stmt: Any = postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict)
        else:
            stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict)
        result = await self.conn.execute(stmt, list(rows))
        return int(result.rowcount or 0)

"""Shared plumbing for repositories: the connection, the clock, insert-or-ignore."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

_SKIP_STATEMENTS: dict[tuple[str, str, tuple[str, ...], bool], Any] = {}


def insert_skipping(table: Table, dialect: str, conflict: Sequence[str], returning: bool) -> Any:
    """``INSERT .. ON CONFLICT (conflict) DO NOTHING`` for ``table``, optionally
    ``RETURNING`` the first conflict column; built once per shape and reused, so hot
    paths neither rebuild it nor recompute its cache key (rows go in as parameters)."""
    key = (table.name, dialect, tuple(conflict), returning)
    stmt = _SKIP_STATEMENTS.get(key)
    if stmt is None:
        mod: Any = postgresql if dialect == "postgresql" else sqlite
        stmt = mod.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
        if returning:
            stmt = stmt.returning(table.c[conflict[0]])
        stmt = _SKIP_STATEMENTS[key] = stmt
    return stmt


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
        stmt = insert_skipping(table, self.dialect, conflict, returning=False)
        result = await self.conn.execute(stmt, list(rows))
        return int(result.rowcount or 0)


def after_cursor(table: Table, after: str) -> Any:
    """Rows after the row ``after`` (an id) in ``(created_at, id)`` order: the condition
    for paging a list sorted oldest first. Ids are random, so ``id > after`` alone
    would skip and repeat rows; an unknown ``after`` matches nothing."""
    at = select(table.c.created_at).where(table.c.id == after).scalar_subquery()
    return or_(table.c.created_at > at, and_(table.c.created_at == at, table.c.id > after))


def by_age(table: Table, newest_first: bool = False) -> tuple[Any, ...]:
    """The ``ORDER BY`` of a list in ``(created_at, id)`` order, the order
    :func:`after_cursor` pages in; reversed for "the newest N"."""
    if newest_first:
        return (table.c.created_at.desc(), table.c.id.desc())
    return (table.c.created_at, table.c.id)

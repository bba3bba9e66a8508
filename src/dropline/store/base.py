"""Shared plumbing for repositories: the connection, the clock, inserts of many rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect, Table, and_, insert, or_, select
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


_INSERTS: dict[str, Any] = {}  # table -> its plain INSERT, built once
# (table, the rows' keys, conflict columns) -> (SQL, processors, default values)
_DRIVER_INSERTS: dict[
    tuple[str, tuple[str, ...], tuple[str, ...]], tuple[str, tuple[Any, ...], tuple[Any, ...]]
] = {}


def _driver_insert(
    table: Table, dialect: Dialect, keys: tuple[str, ...], conflict: tuple[str, ...]
) -> tuple[str, tuple[Any, ...], tuple[Any, ...]] | None:
    """The SQLite ``INSERT`` for rows with ``keys``, built once: its SQL, the bind
    processors of the columns that have one (by position: the column type's own, as
    SQLAlchemy applies it; strings and integers have none) and the values of the columns
    the rows leave to a Python-side default. None when such a default is not a plain
    value (SQLAlchemy must compute it per row)."""
    cache_key = (table.name, keys, conflict)
    found = _DRIVER_INSERTS.get(cache_key)
    if found is None:
        left = [c for c in table.columns if c.name not in keys and c.default is not None]
        if any(not getattr(c.default, "is_scalar", False) for c in left):
            return None
        names = [*keys, *(c.name for c in left)]
        quote = dialect.identifier_preparer.quote
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)})"
            f" VALUES ({', '.join('?' * len(names))})"
        )
        if conflict:
            sql += f" ON CONFLICT ({', '.join(quote(n) for n in conflict)}) DO NOTHING"
        procs = [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
        found = _DRIVER_INSERTS[cache_key] = (
            sql,
            tuple((i, p) for i, p in enumerate(procs) if p is not None),
            tuple(c.default.arg for c in left),  # type: ignore[union-attr]
        )
    return found


async def insert_rows(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str] = (),
) -> int:
    """Insert ``rows`` in order (skipping those whose ``conflict`` columns exist, when
    given), one statement run for every row of a shape; returns how many were inserted.

    On SQLite the rows go straight to the driver's ``executemany``, each value through
    its column type's bind processor and the Python-side defaults filled in: the very
    values SQLAlchemy's executemany binds, without its per-row parameter handling (about
    2 µs a row, a dozen rows an order in a flash sale; ``bench/notes.md``). sqlite3 sums
    the rows each parameter set changed, so the count is exact. Elsewhere SQLAlchemy
    inserts them, counting a conflict-skipping insert with ``RETURNING`` (asyncpg's
    ``executemany`` reports no row count). Rows with other keys than the row before
    them start a statement of their own: an executemany binds the first row's keys and
    would silently drop another row's extra values."""
    total, start = 0, 0
    shape = tuple(rows[0]) if rows else ()
    for end in range(1, len(rows) + 1):
        following = tuple(rows[end]) if end < len(rows) else None
        if following != shape:
            total += await _insert_run(conn, table, rows[start:end], shape, tuple(conflict))
            start, shape = end, following or ()
    return total


async def _insert_run(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: tuple[str, ...],
    conflict: tuple[str, ...],
) -> int:
    """``insert_rows`` for rows that all have ``keys``, in that order."""
    dialect = conn.dialect
    if dialect.name == "sqlite":
        plan = _driver_insert(table, dialect, keys, conflict)
        if plan is not None:
            sql, procs, extra = plan
            params = []
            for r in rows:
                values = [*r.values(), *extra]
                for i, p in procs:  # only the columns whose type converts (times, JSON)
                    values[i] = p(values[i])
                params.append(tuple(values))
            return int((await conn.exec_driver_sql(sql, params)).rowcount)
    params_list = [dict(r) for r in rows]
    if conflict:
        stmt = insert_skipping(table, dialect.name, conflict, returning=True)
        return len((await conn.execute(stmt, params_list)).all())
    stmt = _INSERTS.get(table.name)
    if stmt is None:
        stmt = _INSERTS[table.name] = insert(table)
    await conn.execute(stmt, params_list)
    return len(rows)


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
        return await insert_rows(self.conn, table, rows, conflict)


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

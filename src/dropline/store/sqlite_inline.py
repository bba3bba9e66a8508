"""SQLite calls made inline on the event loop instead of through aiosqlite's thread.

aiosqlite gives every connection a worker thread and sends every call (execute, fetch,
commit, even ``cursor()``) there and back through a queue. A checkout issues about a
hundred such calls; on the 2-core benchmark machine each round trip costs about a
millisecond of thread hand-off and GIL contention, while the SQLite work itself is tens
of microseconds (see ``docs/benchmarks.md``, full checkout profile). Running the calls
inline removes the hand-off.

Why blocking the loop is acceptable here: in WAL mode readers never wait, and writers of
this process are queued in asyncio by ``store.write_gate`` before ``BEGIN IMMEDIATE``,
so an inline call only ever waits on SQLite's lock when *another process* writes (the
CLI, a second server on the same file) — briefly, as before, but then the whole loop
waits rather than one task. With ``synchronous=NORMAL`` a commit does not fsync.

``InlineConnection`` keeps aiosqlite's public API (SQLAlchemy's aiosqlite dialect uses
it unchanged) and only replaces how a call is run.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite


class _InlineQueue:
    """Stands in for the worker thread's queue: whoever puts ``(future, function)``
    (SQLAlchemy's dialect does, to set ``isolation_level``) gets it run at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An ``aiosqlite.Connection`` that runs each call directly, with no worker thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _InlineQueue()  # type: ignore[assignment]

    def __await__(self) -> Any:
        # aiosqlite starts its thread here; the inline connection has none to start.
        return self._connect().__await__()

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return partial(fn, *args, **kwargs)()

    def begin(self, mode: str) -> None:
        """``BEGIN <mode>`` (``IMMEDIATE``, ``DEFERRED``) on the sqlite3 connection now."""
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        self._connection.execute(f"BEGIN {mode}")

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()


def inline_connect(database: str, **kwargs: Any) -> InlineConnection:
    """The ``async_creator_fn`` for SQLAlchemy's aiosqlite dialect: same arguments as
    ``sqlite3.connect`` (the dialect passes the path, timeout, uri, factory, ...)."""
    kwargs.pop("check_same_thread", None)
    return InlineConnection(partial(sqlite3.connect, database, **kwargs), 64)

"""Group commit: jobs that queue while one batch is written share the next transaction.

Under a burst most of a small transaction's cost is per statement and per commit, not per
row. ``GroupCommit`` runs one writer task per event loop (per process, in a server) that
takes *every* job queued, writes them together in ONE transaction (the caller's ``write``
merges statements where it can) and answers each caller after the commit. Paid orders
(``services.live.checkout``) and the sandbox processor's payments
(``payments.sandbox``) are written this way.

The rules it keeps, and why:

- **No timer.** A batch is whatever queued while the previous batch was being written,
  plus what the event loop's next turn brings: before each batch the writer yields once
  (``sleep(0)``), so requests already read off the sockets reach the queue first. A lone
  job waits two turns of the loop, never for company. (Without that turn, a writer that
  finds one or two jobs writes them at once and the next batch is as small: measured
  in ``bench/notes.md``, change 53.)
- **A job refused by its own rule, alone.** ``write`` may answer a job with an exception
  (an idempotency key reused for another call, say) when that job wrote nothing: the
  batch commits without it and that caller gets the exception raised.
- **All or nothing per batch, then each job alone.** ``write`` raises (``BatchRefused``
  when a job's own rule refused it: a lost claim, a sale the ledger refused; any other
  error: the database's, a deadlock, the commit itself) and the batch's transaction is
  rolled back with every event it recorded. Every caller is then answered ``None``,
  which means "not written: write it alone", and runs its job in its own transaction
  with the code path a single order always used, so the job that fails fails alone and
  the others succeed. Nothing of a rolled-back batch is half-kept.
- **A process killed mid-batch commits nothing**: the transaction never committed, the
  checkouts stay ``processing`` under their claims and recovery finishes them one by
  one, as for a single order.

The counters in ``stats`` say how batching went (tests assert that batches of more than
one job happened; ``bench/checkout_cost.py`` prints them).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
J = TypeVar("J")
R = TypeVar("R")


class BatchRefused(Exception):
    """A job of the batch cannot be written in it (its own rule refused it); the batch
    is rolled back and each of its jobs is written alone."""


@dataclass
class GroupCommitStats:
    """What the writer did since it was made (all processes' tests read their own)."""

    batches: int = 0  # batches committed
    jobs: int = 0  # jobs committed in batches
    shared: int = 0  # committed batches of more than one job
    largest: int = 0  # the most jobs one committed batch held
    fallbacks: int = 0  # batches rolled back, their jobs sent to be written alone
    fallback_jobs: int = 0  # the jobs those batches held


@dataclass
class _Queue(Generic[J, R]):
    pending: list[tuple[J, asyncio.Future[R | None]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class GroupCommit(Generic[T, J, R]):
    """One writer per event loop for jobs written by ``write(tx, jobs)``.

    ``begin()`` opens a write transaction ``tx`` (a unit of work, a connection) as an
    async context manager that rolls back whatever was not committed when it closes;
    ``commit(tx)`` commits it. ``write`` gets the open transaction and the batch's jobs
    (in the order they queued) and returns one result per job, in the same order,
    without committing: a value, or an exception for a job it refused without writing
    anything of it. ``max_batch`` bounds a transaction's size (and the time a SQLite
    write lock is held); jobs beyond it wait for the next batch."""

    def __init__(
        self,
        begin: Callable[[], AbstractAsyncContextManager[T]],
        write: Callable[[T, Sequence[J]], Awaitable[Sequence[R | Exception]]],
        commit: Callable[[T], Awaitable[None]],
        *,
        max_batch: int = 64,
    ) -> None:
        self.begin = begin
        self.write = write
        self.commit = commit
        self.max_batch = max_batch
        self.stats = GroupCommitStats()
        self._queues: dict[asyncio.AbstractEventLoop, _Queue[J, R | Exception]] = {}

    def _queue(self, loop: asyncio.AbstractEventLoop) -> _Queue[J, R | Exception]:
        queue = self._queues.get(loop)
        if queue is None:
            for old in [lp for lp in self._queues if lp.is_closed()]:
                del self._queues[old]  # tests run one loop per test
            queue = self._queues[loop] = _Queue()
        return queue

    async def submit(self, job: J) -> R | None:
        """Write ``job`` in the next batch: its result once the batch committed, or None
        when the batch was rolled back (the caller then writes the job alone). Raises
        the exception ``write`` answered the job with (it wrote nothing of the job)."""
        loop = asyncio.get_running_loop()  # once: each call is a getpid() on 3.11
        queue = self._queue(loop)
        future: asyncio.Future[R | Exception | None] = loop.create_future()
        queue.pending.append((job, future))
        if queue.task is None:
            # A context of its own: the batch is nobody's request (no request id, no
            # actor whose audit trail would collect the other jobs' events).
            queue.task = asyncio.create_task(self._drain(queue), context=contextvars.Context())
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    async def _drain(self, queue: _Queue[J, R | Exception]) -> None:
        try:
            while queue.pending:
                await asyncio.sleep(0)  # one turn: what the loop has read joins the batch
                await self._one_batch(queue)
        finally:
            queue.task = None
            for _, future in queue.pending:  # only if the writer itself was cancelled
                if not future.done():
                    future.set_result(None)
            queue.pending.clear()

    async def _one_batch(self, queue: _Queue[J, R | Exception]) -> None:
        """Open a transaction, *then* take what queued (on SQLite the transaction waits
        its turn for the write lock, and what queued meanwhile joins), write, commit."""
        batch: list[tuple[J, asyncio.Future[R | Exception | None]]] = []
        try:
            async with self.begin() as tx:
                batch = queue.pending[: self.max_batch]
                del queue.pending[: self.max_batch]
                results = await self.write(tx, [job for job, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} results for {len(batch)} jobs")
                await self._commit(tx)
        except BaseException as exc:
            # Rolled back (leaving the block does it): every job is written alone.
            if not batch:  # the transaction could not even start
                batch = queue.pending[:]
                queue.pending.clear()
            self.stats.fallbacks += 1
            self.stats.fallback_jobs += len(batch)
            if isinstance(exc, BatchRefused):
                log.debug("group commit of %d jobs refused (%s): each alone", len(batch), exc)
            elif isinstance(exc, Exception):
                log.info("group commit of %d jobs failed (%r): each alone", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
            if not isinstance(exc, Exception):
                raise  # cancelled: the callers write their jobs alone
            return
        self.stats.batches += 1
        self.stats.jobs += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        if len(batch) > 1:
            self.stats.shared += 1
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # a caller that went away: its order is written anyway
                future.set_result(result)

    async def _commit(self, tx: T) -> None:
        """The batch's one commit (a seam the tests use to make it fail)."""
        await self.commit(tx)

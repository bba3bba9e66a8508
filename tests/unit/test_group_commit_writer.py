"""The group-commit writer on its own (``store.group_commit``), with a transaction that
is a list of rows: batching, a job refused alone, a batch rolled back as a whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest

from dropline.store.group_commit import BatchRefused, GroupCommit


class Table:
    """Rows committed; a transaction stages rows and keeps them only on commit."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.commits = 0

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[list[int]]:
        yield []  # staged rows, dropped unless committed

    async def commit(self, staged: list[int]) -> None:
        self.rows.extend(staged)
        self.commits += 1


async def write_even(staged: list[int], jobs: Sequence[int]) -> list[int | Exception]:
    """Writes even numbers; refuses odd ones alone; a negative one refuses the batch."""
    out: list[int | Exception] = []
    for n in jobs:
        if n < 0:
            raise BatchRefused(f"{n} refuses the batch")
        if n % 2:
            out.append(ValueError(f"{n} is odd"))
            continue
        staged.append(n)
        out.append(n * 10)
    return out


async def test_jobs_queued_together_share_one_commit_and_get_their_own_result() -> None:
    table = Table()
    writer = GroupCommit(table.begin, write_even, table.commit)

    results = await asyncio.gather(*(writer.submit(n) for n in (2, 4, 6, 8)))

    assert results == [20, 40, 60, 80]
    assert sorted(table.rows) == [2, 4, 6, 8]
    assert table.commits == 1
    assert (writer.stats.batches, writer.stats.shared, writer.stats.largest) == (1, 1, 4)


async def test_a_job_refused_alone_raises_for_its_caller_and_the_rest_commit() -> None:
    table = Table()
    writer = GroupCommit(table.begin, write_even, table.commit)

    results = await asyncio.gather(*(writer.submit(n) for n in (2, 3, 4)), return_exceptions=True)

    assert results[0] == 20 and results[2] == 40
    assert isinstance(results[1], ValueError) and "3 is odd" in str(results[1])
    assert sorted(table.rows) == [2, 4]  # nothing of the refused job
    assert writer.stats.fallbacks == 0


async def test_a_refused_batch_commits_nothing_and_answers_none() -> None:
    table = Table()
    writer = GroupCommit(table.begin, write_even, table.commit)

    results = await asyncio.gather(*(writer.submit(n) for n in (2, -1, 4)))

    assert results == [None, None, None]  # each caller writes its job alone
    assert table.rows == [] and table.commits == 0
    assert (writer.stats.fallbacks, writer.stats.fallback_jobs) == (1, 3)


async def test_batches_are_bounded_by_max_batch() -> None:
    table = Table()
    writer = GroupCommit(table.begin, write_even, table.commit, max_batch=3)

    results = await asyncio.gather(*(writer.submit(n) for n in range(0, 14, 2)))

    assert results == [n * 10 for n in range(0, 14, 2)]
    assert writer.stats.largest == 3 and table.commits == 3
    assert sorted(table.rows) == list(range(0, 14, 2))


@pytest.mark.parametrize("failure", [RuntimeError("disk I/O error"), BatchRefused("no")])
async def test_a_failed_commit_keeps_nothing(failure: Exception) -> None:
    table = Table()

    async def failing_commit(staged: list[int]) -> None:
        raise failure

    writer = GroupCommit(table.begin, write_even, failing_commit)

    assert await asyncio.gather(writer.submit(2), writer.submit(4)) == [None, None]
    assert table.rows == []

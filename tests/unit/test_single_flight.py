"""SingleFlight: a burst of cache misses loads once."""

from __future__ import annotations

import asyncio

import pytest

from dropline.services.single_flight import SingleFlight


async def test_concurrent_misses_share_one_load_and_later_calls_load_again() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0
    gate = asyncio.Event()

    async def load() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return calls

    waiters = [asyncio.create_task(flight.do("k", load)) for _ in range(500)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiters) == [1] * 500
    assert calls == 1
    assert await flight.do("k", load) == 2  # finished loads are not cached here
    assert await flight.do("other", load) == 3


async def test_an_error_reaches_every_waiter_and_is_not_remembered() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()

    async def boom() -> int:
        await gate.wait()
        raise LookupError("gone")

    waiters = [asyncio.create_task(flight.do("k", boom)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results)

    async def fine() -> int:
        return 7

    assert await flight.do("k", fine) == 7


async def test_a_cancelled_waiter_does_not_cancel_the_shared_load() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()

    async def load() -> int:
        await gate.wait()
        return 42

    first = asyncio.create_task(flight.do("k", load))
    second = asyncio.create_task(flight.do("k", load))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second == 42

"""Background jobs that need no database: freezing long-lived objects after a slow
full garbage collection."""

from __future__ import annotations

import gc

import pytest

from dropline.services.platform import background
from dropline.services.platform.background import _FullCollections, freeze_long_lived


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append(1))
    monkeypatch.setattr(_FullCollections, "slow_since_freeze", False)
    monkeypatch.setattr(_FullCollections, "last_freeze", float("-inf"))
    return calls


async def test_nothing_is_frozen_while_full_collections_are_fast(frozen: list[int]) -> None:
    gc.collect()  # fast on a test process's heap
    assert await freeze_long_lived() is False
    assert frozen == []
    assert _FullCollections.callback in gc.callbacks


async def test_a_slow_full_collection_freezes_once_per_interval(
    frozen: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(background, "SLOW_FULL_COLLECTION_S", 0.0)
    clock = [1000.0]
    assert await freeze_long_lived(lambda: clock[0]) is False  # installs the callback
    gc.collect()
    assert await freeze_long_lived(lambda: clock[0]) is True
    assert frozen == [1]
    gc.collect()
    clock[0] += 10
    assert await freeze_long_lived(lambda: clock[0]) is False  # too soon
    clock[0] += background.FREEZE_INTERVAL_S
    assert await freeze_long_lived(lambda: clock[0]) is True
    assert frozen == [1, 1]


async def test_young_collections_are_ignored(
    frozen: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(background, "SLOW_FULL_COLLECTION_S", 0.0)
    await freeze_long_lived()
    gc.collect(0)
    gc.collect(1)
    assert await freeze_long_lived() is False

"""Hash tables split into shards, for the in-process engine's per-hold indexes.

A Python dict or set grows by rehashing every entry into a table four times larger, all
at once. With a million holds in one index that is one 100-200 ms stall of the event
loop, and every request waiting behind it sees it in its latency (``make bench``'s
growth run showed two such stalls in ten seconds at about 1.4 million holds). Split
into 64 shards by the key's hash, each shard grows on its own, so one growth step
rehashes a sixty-fourth of the entries.

The shards are a dict (or set) subclass on purpose: CPython untracks a plain dict whose
values are all untracked and re-tracks it into the youngest generation on the next
insert, so every young collection would walk it. A subclass is never untracked and
stays in the old (or, after ``gc.freeze``, permanent) generation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")

SHARD_BITS = 6


class _DictShard(dict[K, V]):
    __slots__ = ()


class _SetShard(set[K]):
    __slots__ = ()


class ShardedDict(Generic[K, V]):
    """The part of the dict interface the engine uses, over ``2 ** bits`` shards."""

    __slots__ = ("_mask", "_shards")

    def __init__(self, bits: int = SHARD_BITS) -> None:
        self._mask = (1 << bits) - 1
        self._shards: list[_DictShard[K, V]] = [_DictShard() for _ in range(1 << bits)]

    # Each method finds its shard inline (``hash(key) & mask``), not through a helper
    # call: a hold makes three of these calls (together 314 -> 292 ns, python -m timeit).

    def __getitem__(self, key: K) -> V:
        return self._shards[hash(key) & self._mask][key]

    def __setitem__(self, key: K, value: V) -> None:
        self._shards[hash(key) & self._mask][key] = value

    def __delitem__(self, key: K) -> None:
        del self._shards[hash(key) & self._mask][key]

    def __contains__(self, key: K) -> bool:
        return key in self._shards[hash(key) & self._mask]

    def __len__(self) -> int:
        return sum(len(s) for s in self._shards)

    def __iter__(self) -> Iterator[K]:
        for s in self._shards:
            yield from s

    def values(self) -> Iterator[V]:
        for s in self._shards:
            yield from s.values()

    def items(self) -> Iterator[tuple[K, V]]:
        for s in self._shards:
            yield from s.items()

    def shard_sizes(self) -> list[int]:
        """Entries per shard (for tests and diagnostics)."""
        return [len(s) for s in self._shards]

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: V) -> V: ...
    def get(self, key: K, default: V | None = None) -> V | None:
        return self._shards[hash(key) & self._mask].get(key, default)

    def pop(self, key: K, default: V | None = None) -> V | None:
        """Remove and return the value of ``key``, or ``default`` if it is absent."""
        return self._shards[hash(key) & self._mask].pop(key, default)

    def setdefault(self, key: K, default: V) -> V:
        return self._shards[hash(key) & self._mask].setdefault(key, default)


class ShardedSet(Generic[K]):
    """The part of the set interface the engine uses, over ``2 ** bits`` shards."""

    __slots__ = ("_mask", "_shards")

    def __init__(self, bits: int = SHARD_BITS) -> None:
        self._mask = (1 << bits) - 1
        self._shards: list[_SetShard[K]] = [_SetShard() for _ in range(1 << bits)]

    def add(self, key: K) -> None:
        self._shards[hash(key) & self._mask].add(key)

    def discard(self, key: K) -> None:
        self._shards[hash(key) & self._mask].discard(key)

    def __contains__(self, key: K) -> bool:
        return key in self._shards[hash(key) & self._mask]

    def __len__(self) -> int:
        return sum(len(s) for s in self._shards)

    def __iter__(self) -> Iterator[K]:
        for s in self._shards:
            yield from s

"""Sharded hash tables: dict and set behaviour, and growth a shard at a time."""

from __future__ import annotations

import gc

import pytest

from dropline.engine.sharded import ShardedDict, ShardedSet


def test_sharded_dict_behaves_like_a_dict() -> None:
    d: ShardedDict[str, int] = ShardedDict()
    plain: dict[str, int] = {}
    for n in range(1000):
        d[f"k{n}"] = plain[f"k{n}"] = n
    assert len(d) == 1000 and d["k7"] == 7 and "k7" in d and "nope" not in d
    assert d.get("nope") is None and d.get("nope", -1) == -1
    assert d.setdefault("k7", 70) == 7 and d.setdefault("new", 70) == 70
    assert d.pop("new") == 70 and d.pop("new") is None and d.pop("new", 5) == 5
    del d["k0"]
    del plain["k0"]
    with pytest.raises(KeyError):
        del d["k0"]
    with pytest.raises(KeyError):
        d["k0"]
    assert sorted(d) == sorted(plain)
    assert sorted(d.items()) == sorted(plain.items())
    assert sorted(d.values()) == sorted(plain.values())


def test_sharded_set_behaves_like_a_set() -> None:
    s: ShardedSet[str] = ShardedSet()
    for n in range(500):
        s.add(f"h{n}")
    s.add("h1")
    s.discard("h2")
    s.discard("never")
    assert len(s) == 499 and "h1" in s and "h2" not in s
    assert sorted(s) == sorted(f"h{n}" for n in range(500) if n != 2)


def test_entries_spread_so_a_shard_grows_alone() -> None:
    d: ShardedDict[str, int] = ShardedDict(bits=6)
    for n in range(64_000):
        d[f"hld_{n:08d}"] = n
    sizes = d.shard_sizes()
    assert len(sizes) == 64 and sum(sizes) == 64_000
    # a growth step rehashes one shard: about 1/64 of the entries, never most of them
    assert max(sizes) < 1_300


def test_shards_stay_tracked_with_untracked_values() -> None:
    d: ShardedDict[str, tuple[str, int]] = ShardedDict(bits=2)
    for n in range(100):
        d[f"k{n}"] = (f"v{n}", n)
    gc.collect()
    assert not any(gc.is_tracked(v) for v in d.values())
    assert all(gc.is_tracked(shard) for shard in d._shards)

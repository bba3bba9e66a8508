"""hiredis packs commands to the same bytes as redis-py's own encoder."""

from __future__ import annotations

import random

import pytest
from redis.asyncio import Connection
from redis.exceptions import DataError

from dropline.engine.redis_wire import PackedConnection


def test_packed_bytes_equal_redis_py_s() -> None:
    ours, theirs = PackedConnection(), Connection()
    rng = random.Random(7)
    cases: list[tuple[object, ...]] = [
        ("EVALSHA", "a" * 40, 2, "k:1", "k:2", 1_795_000_000.123456, -3, b"\x00\xff", "ü"),
        ("CONFIG GET", "maxmemory"),  # a command name with a space is split, as redis-py does
        (b"PING",),
    ]
    cases += [
        ("SET", f"k{i}", rng.uniform(0, 2e9), rng.randint(-(2**62), 2**62)) for i in range(500)
    ]
    for args in cases:
        assert b"".join(ours.pack_command(*args)) == b"".join(theirs.pack_command(*args)), args
    many = [("SET", "a", 1), ("GET", "a")]
    assert b"".join(ours.pack_commands(many)) == b"".join(theirs.pack_commands(many))


def test_what_hiredis_refuses_fails_the_redis_py_way() -> None:
    for bad in (None, True):
        with pytest.raises(DataError):
            PackedConnection().pack_command("SET", "k", bad)

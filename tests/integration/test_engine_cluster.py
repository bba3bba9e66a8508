"""The Redis engine on a real Redis Cluster (the local six nodes of
``.ci/redis-cluster.sh``): seed-node URLs, drops spread over the masters with each
drop's keys on one, listing registries and journals across slots, lookups from another
process, and a drop loaded by another node (what a failover leaves) being rebuilt.

The behaviour shared with the other engines runs here too, in
``test_engine_contract.py``; the failover itself is in ``test_cluster_failover.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from cluster_support import drop_slot, master_port
from dropline.domain.errors import InsufficientStock, NotFound, SoldOut
from dropline.domain.live.holds import HoldItem, HoldRequest, HoldStatus, ItemKind
from dropline.engine import create_engine
from dropline.engine.redis_cluster import seed_nodes
from dropline.engine.redis_engine import RedisEngine
from dropline.services.ports import DropNotLoaded, DropSnapshot, EngineOffer
from prod_support import lose_redis_data, unique_prefix

pytestmark = pytest.mark.redis
T0 = 1_800_000_000.0


def snap(drop_id: str, units: int = 10) -> DropSnapshot:
    return DropSnapshot(drop_id, True, {"sku_a": EngineOffer("sku_a", units, None)})


def req(drop_id: str, buyer: str = "b1") -> HoldRequest:
    return HoldRequest(drop_id, buyer, (HoldItem(ItemKind.SKU, "sku_a", 1),), {"sku_a": 1}, 90)


@pytest.fixture
async def engines(redis_cluster_url: str) -> AsyncIterator[tuple[RedisEngine, RedisEngine, str]]:
    prefix = unique_prefix()
    a = RedisEngine(redis_cluster_url, prefix=prefix)
    b = RedisEngine(redis_cluster_url, prefix=prefix)
    try:
        yield a, b, prefix
    finally:
        await a.close()
        await b.close()
        await lose_redis_data(redis_cluster_url, prefix)


def test_seed_nodes_are_parsed() -> None:
    assert seed_nodes("redis+cluster://a:1,b:2") == [("a", 1), ("b", 2)]
    assert seed_nodes("rediss+cluster://u:p@a:1/0?x=1") == [("a", 1)]
    with pytest.raises(ValueError, match="host:port"):
        seed_nodes("redis+cluster://a:1,b")
    with pytest.raises(ValueError, match="not a redis"):
        seed_nodes("redis://a:1")


async def test_factory_builds_a_cluster_engine(redis_cluster_url: str) -> None:
    engine = create_engine(redis_cluster_url)
    try:
        assert isinstance(engine, RedisEngine)
        assert isinstance(engine._client, RedisCluster)
        await engine.ping()
    finally:
        await engine.close()


async def test_drops_spread_over_every_master_and_are_all_listed(
    engines: tuple[RedisEngine, RedisEngine, str],
) -> None:
    a, b, _ = engines
    drops = [f"drp_spread{n}" for n in range(12)]
    masters = {master_port(drop_slot(d)) for d in drops}
    assert len(masters) == 3  # the ids hash to slots on all three masters
    holds = {}
    for d in drops:
        await a.ensure_drop(snap(d))
        holds[d] = await a.place_hold(req(d), T0)
    # One engine's registry and journals list every drop, whichever slot it is in.
    events = await b.read_events(limit=100)
    assert {ev.hold.drop_id for ev in events} == set(drops)
    await b.ack_events([ev.id for ev in events])
    assert await b.read_events() == []
    assert await b.events_dropped() == 0
    expired = await b.expire_due(T0 + 1000, limit=100)
    assert {h.drop_id for h in expired} == set(drops)
    for d in drops:
        assert (await a.counts(d))["sku_a"].remaining == 10


async def test_a_hold_is_found_from_another_process(
    engines: tuple[RedisEngine, RedisEngine, str],
) -> None:
    """The hold-id pointer lives in another slot than the drop: set apart from the
    script, and found by an engine that never saw the hold."""
    a, b, prefix = engines
    await a.ensure_drop(snap("drp_found"))
    h = await a.place_hold(req("drp_found"), T0)
    assert 0 < await a._client.ttl(f"{prefix}:hold:{h.id}") <= 86_400
    assert await b.get_hold(h.id) == h
    paying = await b.start_payment(h.id, T0 + 1, 300)
    assert paying.status == HoldStatus.PAYING
    assert (await a.convert(h.id, T0 + 2)).status == HoldStatus.CONVERTED  # type: ignore[union-attr]


async def test_a_drop_loaded_by_another_node_is_not_loaded(
    engines: tuple[RedisEngine, RedisEngine, str],
) -> None:
    """What a failover leaves: the promoted replica holds a copy (maybe missing the
    last writes) that its meta says another node loaded. Every call then treats the
    drop as not loaded, so the service rebuilds it from the ledger."""
    a, b, prefix = engines
    drop = "drp_moved"
    await a.ensure_drop(snap(drop))
    h = await a.place_hold(req(drop), T0)
    await a._client.hset(f"{prefix}:{{{drop}}}:meta", "node", "0" * 40)  # type: ignore[misc]
    with pytest.raises(DropNotLoaded):
        await a.place_hold(req(drop, "b2"), T0)
    with pytest.raises(DropNotLoaded):
        await b.counts(drop)
    assert await b.get_hold(h.id) is None
    with pytest.raises(NotFound):
        await b.start_payment(h.id, T0 + 1, 300)
    assert await b.convert(h.id, T0 + 1) is None
    assert await b.expire_due(T0 + 1000) == []
    # The rebuild (ensure) loads it afresh, once.
    assert await a.ensure_drop(snap(drop, 7)) is True
    assert await b.ensure_drop(snap(drop, 99)) is False
    assert (await b.counts(drop))["sku_a"].remaining == 7


async def test_a_stale_slot_map_is_followed_not_failed(
    engines: tuple[RedisEngine, RedisEngine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-master batcher sends by the client's slot map; when that map is wrong
    (a slot moved), the node answers MOVED without running the command, and the command
    goes through the cluster client instead: the caller never sees the redirection."""
    a, _, _ = engines
    drop = "drp_stale"
    await a.ensure_drop(snap(drop))
    client = a._client
    assert isinstance(client, RedisCluster)
    manager = client.nodes_manager
    right = manager.get_node_from_slot(drop_slot(drop))
    wrong = next(n for n in client.get_primaries() if n.name != right.name)
    batcher = a._runner.cluster_batcher
    assert batcher is not None
    sent_to: list[str] = []
    real = type(batcher)._batcher

    def misroute(self: Any, host: str, port: int) -> Any:
        sent_to.append(f"{host}:{port}")
        return real(self, wrong.host, int(wrong.port))  # as if the map were stale

    monkeypatch.setattr(type(batcher), "_batcher", misroute)
    h = await a.place_hold(req(drop), T0)
    monkeypatch.undo()
    assert sent_to  # it did go through the batcher, to the wrong master
    assert (await a.counts(drop))["sku_a"].held == 1
    assert (await a.get_hold(h.id)) == h


async def test_without_coalescing_each_command_is_its_own_call(redis_cluster_url: str) -> None:
    prefix = unique_prefix()
    engine = RedisEngine(redis_cluster_url, prefix=prefix, coalesce=False, max_connections=8)
    try:
        await engine.ensure_drop(snap("drp_plain", 50))

        async def tap(n: int) -> bool:
            try:
                await engine.place_hold(req("drp_plain", f"b{n}"), T0)
            except (SoldOut, InsufficientStock):
                return False
            return True

        # more callers than connections: they wait for a turn instead of failing
        won = await asyncio.gather(*(tap(n) for n in range(200)))
        assert sum(won) == 50
        assert (await engine.counts("drp_plain"))["sku_a"].held == 50
    finally:
        await engine.close()
        await lose_redis_data(redis_cluster_url, prefix)

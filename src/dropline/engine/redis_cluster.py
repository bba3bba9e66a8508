"""Redis Cluster clients for the Redis engine: ``redis+cluster://`` seed-node URLs.

``redis+cluster://[user:password@]host:port[,host:port...]`` (``rediss+cluster://`` for
TLS) names some nodes of a cluster; the client discovers the rest and follows the slot
map. Like the single-server client the engine builds, it never retries a command on its
own (``Retry(NoBackoff(), 0)``): a script resent after a lost reply could apply twice
(``take``, ``adjust_offer``). Redirections (``MOVED``/``ASK``: the command did not run)
are still followed, and a connection error asks the client to refresh its slot map, so
after a failover the next command finds the promoted replica.

``BoundedCluster`` waits for a free slot instead of failing: redis-py's cluster client
raises ``MaxConnectionsError`` once a node's connections are all in use, where the
engine's single-server pool blocks.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote, urlsplit

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

SCHEMES = ("redis+cluster://", "rediss+cluster://")


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (seed nodes) rather than one server."""
    return url.startswith(SCHEMES)


def seed_nodes(url: str) -> list[tuple[str, int]]:
    """The ``(host, port)`` seed nodes of a ``redis+cluster://`` URL; ``ValueError`` when
    there is none or a port is missing."""
    if not is_cluster_url(url):
        raise ValueError(f"not a redis+cluster:// URL: {url!r}")
    netloc = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
    hosts = netloc.rsplit("@", 1)[-1]
    nodes = []
    for part in hosts.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"a cluster seed node needs host:port, got {part!r} in {url!r}")
        nodes.append((host.strip("[]"), int(port)))
    return nodes


def cluster_client(url: str, *, max_connections: int = 64) -> RedisCluster:
    """A cluster client for the seed nodes of ``url`` with no automatic retries and
    ``max_connections`` connections per node at most."""
    nodes = seed_nodes(url)
    first = urlsplit(url.split(",", 1)[0])  # user and password, if any
    kwargs: dict[str, Any] = {}
    if first.username:
        kwargs["username"] = unquote(first.username)
    if first.password:
        kwargs["password"] = unquote(first.password)
    if url.startswith("rediss+"):
        kwargs["ssl"] = True
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in nodes],
        retry=Retry(NoBackoff(), 0),
        max_connections=max_connections,
        **kwargs,
    )


class BoundedCluster:
    """Runs commands on a cluster client with at most ``limit`` in flight (a caller
    over the limit waits for a turn)."""

    def __init__(self, client: RedisCluster, limit: int) -> None:
        self.client = client
        self._turns = asyncio.Semaphore(limit)

    async def execute(self, *args: Any) -> Any:
        async with self._turns:
            return await self.client.execute_command(*args)

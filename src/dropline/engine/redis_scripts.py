"""Lua script loading and the coalescing command batcher for the Redis engine.

``ScriptSet`` reads ``engine/lua/*.lua``, prepends the shared prelude ``_lib.lua`` (Redis
has no ``include``), and knows each script's SHA1 locally. Scripts are loaded once with
``SCRIPT LOAD`` and called with ``EVALSHA``; when Redis answers ``NOSCRIPT`` (restart,
failover, ``SCRIPT FLUSH``) every script is loaded again and the call is sent again (on a
cluster, a second ``NOSCRIPT`` reads the slot map anew first: the load had gone to the
masters of a map from before a failover). Re-sending is safe because a ``NOSCRIPT``
reply means the script did not run.

``CommandBatcher`` coalesces concurrent commands: callers append to a queue and await a
future; one flusher task sends everything queued in one pipeline (``transaction=False``:
no MULTI, the scripts are atomic on their own) and resolves each caller's future with
its own reply or its own error. While one pipeline is in flight the next batch builds
up, so under load the number of round trips per call tends to 1/batch size instead of
1, and an idle engine still answers after a single round trip.

On a plain (non-cluster) client the flusher keeps one connection of the pool for
itself and writes each batch straight onto it: all commands packed in one write, then
each reply read and converted by the client's own ``parse_response`` (the same reply
callbacks as ``Pipeline``). redis-py's pipeline object, its pool checkout and release
per batch cost about 150 µs of CPU per round trip and 15 µs per command
(``bench/notes.md``), more than a hold's script itself. A cluster client keeps its
pipelines, which route each command to its slot's node.

On Redis Cluster, ``ClusterBatcher`` keeps one such batcher per master: each command
goes to the batcher of the master serving its slot (the cluster client's slot map), on a
plain connection to that node, so a batch only ever holds one node's commands and a
node that fails fails only its own callers. redis-py's cluster pipeline is not used: one
node lost fails every command of its batch, also those that ran on healthy nodes, and
their callers would take a script that ran for one that did not (a ``take`` retried by
checkout recovery would apply twice). A reply that says the command did not run there
(``MOVED``, ``ASK``, ``TRYAGAIN``, ``CLUSTERDOWN``) sends that one command through the
cluster client, which follows it; a connection error is the caller's (it may have run)
and makes the next call refresh the slot map first (at most once a second), so after a
failover commands reach the promoted replica. ``bench/notes.md`` has the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import deque
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dropline.engine.redis_cluster import BoundedCluster
from dropline.engine.redis_wire import PackedConnection

LUA_PACKAGE = "dropline.engine"
PRELUDE = "_lib.lua"
#: Access windows and rate limits (after the prelude, whose keys it uses).
ACCESS_PRELUDE = "_access.lua"
SCRIPT_NAMES = (
    "load_drop",
    "forget_drop",
    "end_holds",
    "set_accepting",
    "set_sku_paused",
    "set_waitlist_gate",
    "adjust_offer",
    "place_hold",
    "start_payment",
    "release",
    "convert",
    "take",
    "expire_due",
    "counts",
    "get_hold",
    "journal_lease",
    "access",
)

Command = tuple[Any, ...]


def _read_lua(name: str) -> str:
    return resources.files(LUA_PACKAGE).joinpath("lua", name).read_text(encoding="utf-8")


class ScriptSet:
    """The engine's Lua scripts: source (prelude + body) and SHA1 by name."""

    def __init__(self) -> None:
        prelude = _read_lua(PRELUDE) + "\n" + _read_lua(ACCESS_PRELUDE)
        self.sources: dict[str, str] = {
            name: prelude + "\n" + _read_lua(f"{name}.lua") for name in SCRIPT_NAMES
        }
        self.shas: dict[str, str] = {
            name: hashlib.sha1(src.encode("utf-8"), usedforsecurity=False).hexdigest()
            for name, src in self.sources.items()
        }

    async def load_all(self, client: aioredis.Redis | RedisCluster) -> None:
        """``SCRIPT LOAD`` every script: one pipelined round trip on one server; on a
        cluster one call per script, which the client sends to every master."""
        if isinstance(client, RedisCluster):
            for src in self.sources.values():
                await client.script_load(src)
            return
        async with client.pipeline(transaction=False) as pipe:
            for src in self.sources.values():
                pipe.script_load(src)
            await pipe.execute()


class CommandBatcher:
    """Coalesces concurrent commands into pipelined batches (see the module docstring).

    A caller that is cancelled after queueing does not un-send its command: it may
    still run (a hold placed that way simply expires).

    One failing command fails only its caller (``raise_on_error=False`` gives each its
    own reply); a failure of the whole pipeline (connection lost) fails the callers of
    that batch and the flusher carries on with the next.
    """

    def __init__(self, client: aioredis.Redis, *, max_batch: int = 1000) -> None:
        self._client = client
        self._max_batch = max_batch
        self._queue: deque[tuple[Command, asyncio.Future[Any]]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # the flusher's own connection (plain clients only; see the module docstring)
        self._direct = isinstance(client, aioredis.Redis)
        self._conn: Connection | None = None
        self.batches = 0
        self.commands = 0

    async def execute(self, *args: Any) -> Any:
        """Queue one command and wait for its own reply (or its own error)."""
        if self._closed:
            raise RuntimeError("the engine is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((args, future))
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._wakeup = asyncio.Event()  # an Event binds to the loop that first waits
            self._task = loop.create_task(self._flush_forever(), name="dropline-redis-batcher")
        self._wakeup.set()
        return await future

    async def _flush_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                n = min(len(self._queue), self._max_batch)
                batch = [self._queue.popleft() for _ in range(n)]
                await self._send(batch)

    async def _send(self, batch: Sequence[tuple[Command, asyncio.Future[Any]]]) -> None:
        self.batches += 1
        self.commands += len(batch)
        try:
            if self._direct:
                replies = await self._write_and_read(batch)
            else:
                async with self._client.pipeline(transaction=False) as pipe:
                    for args, _ in batch:
                        pipe.execute_command(*args)
                    replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # the whole batch failed: tell every caller
            await self._drop_connection()
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled by close(): nobody may wait forever
            await self._drop_connection()
            for _, future in batch:
                if not future.done():
                    future.set_exception(RuntimeError("the engine is closed"))
            raise
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # the caller was cancelled
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _write_and_read(
        self, batch: Sequence[tuple[Command, asyncio.Future[Any]]]
    ) -> list[Any]:
        """One write of every command of the batch, then every reply in order; an error
        reply is that command's own result, any other failure fails the whole batch
        (the connection is then dropped: it may be out of step)."""
        conn = self._conn
        if conn is None:
            pool = self._client.connection_pool
            conn = self._conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        await conn.send_packed_command(conn.pack_commands([args for args, _ in batch]))
        replies: list[Any] = []
        for args, _ in batch:
            try:
                replies.append(await self._client.parse_response(conn, args[0]))
            except ResponseError as exc:
                replies.append(exc)
        return replies

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect()
            with contextlib.suppress(Exception):
                await self._client.connection_pool.release(conn)

    async def close(self) -> None:
        """Stop the flusher; callers still queued get an error instead of hanging."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._conn is not None:  # back to the pool, still connected
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await self._client.connection_pool.release(conn)
        while self._queue:
            _, future = self._queue.popleft()
            if not future.done():
                future.set_exception(RuntimeError("the engine is closed"))


def first_key(args: Sequence[Any]) -> Any:
    """The key a command is routed by: ``EVALSHA``'s first key, else the first argument;
    None for a command without one (``PING``)."""
    name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
    name = name.upper()
    if name in ("EVALSHA", "EVAL"):
        return args[3] if int(args[2]) > 0 else None
    if name == "PING" or len(args) < 2:
        return None
    return args[1]


class ClusterBatcher:
    """Per-master coalescing on Redis Cluster (see the module docstring)."""

    #: replies that mean the command did not run on that node
    NOT_RUN = (MovedError, AskError, TryAgainError, ClusterDownError)
    REFRESH_S = 1.0

    def __init__(self, client: RedisCluster, *, max_connections: int = 64) -> None:
        self.client = client
        self._max_connections = max_connections
        self._nodes: dict[str, tuple[aioredis.Redis, CommandBatcher]] = {}
        self._stale = False
        self._refreshed = 0.0
        self._refresh_lock = asyncio.Lock()
        self._ready = False

    def _batcher(self, host: str, port: int) -> CommandBatcher:
        name = f"{host}:{port}"
        hit = self._nodes.get(name)
        if hit is None:
            kwargs = self.client.get_connection_kwargs()
            pool = aioredis.BlockingConnectionPool(
                host=host,
                port=port,
                username=kwargs.get("username"),
                password=kwargs.get("password"),
                max_connections=self._max_connections,
                retry=Retry(NoBackoff(), 0),  # never resend: a script may have run
                connection_class=PackedConnection,
            )
            node_client = aioredis.Redis(connection_pool=pool)
            hit = self._nodes[name] = (node_client, CommandBatcher(node_client))
        return hit[1]

    def mark_stale(self) -> None:
        """Read the slot map again before the next command (a failover was seen)."""
        self._stale = True

    async def _refresh(self) -> None:
        async with self._refresh_lock:
            loop = asyncio.get_running_loop()
            if not self._stale or loop.time() - self._refreshed < self.REFRESH_S:
                return
            self._stale = False
            self._refreshed = loop.time()
            with contextlib.suppress(Exception):  # still unreachable: the next call says
                await self.client.nodes_manager.initialize()

    async def execute(self, *args: Any) -> Any:
        """One command on the master serving its key's slot, coalesced with the
        concurrent commands for that master."""
        if not self._ready:
            await self.client.initialize()
            self._ready = True
        if self._stale:
            await self._refresh()
        key = first_key(args)
        if key is None:
            return await self.client.execute_command(*args)
        slot = key_slot(key.encode() if isinstance(key, str) else key)
        node = self.client.nodes_manager.get_node_from_slot(slot)
        try:
            return await self._batcher(node.host, int(node.port)).execute(*args)
        except self.NOT_RUN:
            self._stale = True  # the slot map is out of date
            return await self.client.execute_command(*args)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            self._stale = True  # maybe a failover: find the new master next time
            raise

    async def close(self) -> None:
        """Stop every node's batcher and close its connections."""
        for node_client, batcher in self._nodes.values():
            await batcher.close()
            await node_client.aclose(close_connection_pool=True)
        self._nodes.clear()


#: tries of a script call that Redis answers ``NOSCRIPT`` (``ScriptRunner.run``)
_NOSCRIPT_TRIES = 3


class ScriptRunner:
    """Runs commands and scripts, through the batcher when coalescing is on, and
    reloads the scripts once on ``NOSCRIPT``."""

    def __init__(
        self,
        client: aioredis.Redis | RedisCluster,
        *,
        coalesce: bool,
        max_in_flight: int = 64,
    ) -> None:
        """``coalesce``: batch concurrent commands (per master on a cluster, see the
        module docstring); without it a cluster client runs at most ``max_in_flight``
        commands at once, each its own call."""
        self.client = client
        self.scripts = ScriptSet()
        self.batcher: CommandBatcher | None = None
        self.cluster: BoundedCluster | None = None
        self.cluster_batcher: ClusterBatcher | None = None
        if isinstance(client, RedisCluster):
            if coalesce:
                self.cluster_batcher = ClusterBatcher(client, max_connections=max_in_flight)
            else:
                self.cluster = BoundedCluster(client, max_in_flight)
        elif coalesce:
            self.batcher = CommandBatcher(client)
        self._loaded = False
        self._generation = 0
        self._load_lock = asyncio.Lock()

    async def command(self, *args: Any) -> Any:
        """One Redis command, coalesced with concurrent ones when enabled."""
        if self.batcher is not None:
            return await self.batcher.execute(*args)
        if self.cluster_batcher is not None:
            return await self.cluster_batcher.execute(*args)
        if self.cluster is not None:
            return await self.cluster.execute(*args)
        client = self.client
        assert isinstance(client, aioredis.Redis)
        return await client.execute_command(*args)  # type: ignore[no-untyped-call]

    async def _load(self, seen_generation: int | None) -> None:
        """Load the scripts unless another caller already did since this one looked
        (many callers hitting NOSCRIPT at once cause one reload, not one each)."""
        async with self._load_lock:
            if seen_generation is None and self._loaded:
                return
            if seen_generation is not None and seen_generation != self._generation:
                return
            await self.scripts.load_all(self.client)
            self._loaded = True
            self._generation += 1

    async def run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """``EVALSHA`` the named script; on ``NOSCRIPT`` load all scripts and retry.

        On a cluster a second ``NOSCRIPT`` means the scripts went to the masters of an
        out-of-date slot map (a failover the client has not seen: the call was
        redirected to a new master that never got them), so the map is read again
        before the last load and try."""
        if not self._loaded:
            await self._load(None)
        cmd = ("EVALSHA", self.scripts.shas[name], len(keys), *keys, *args)
        for attempt in range(_NOSCRIPT_TRIES):
            generation = self._generation
            try:
                return await self.command(*cmd)
            except NoScriptError:
                if attempt == _NOSCRIPT_TRIES - 1:
                    raise
                if attempt > 0:
                    await self._refresh_slot_map()
                await self._load(generation)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _refresh_slot_map(self) -> None:
        client = self.client
        if isinstance(client, RedisCluster):
            if self.cluster_batcher is not None:
                self.cluster_batcher.mark_stale()
            with contextlib.suppress(Exception):  # unreachable now: the retry says so
                await client.nodes_manager.initialize()

    async def close(self) -> None:
        """Stop the batchers (the client belongs to the caller)."""
        if self.batcher is not None:
            await self.batcher.close()
        if self.cluster_batcher is not None:
            await self.cluster_batcher.close()

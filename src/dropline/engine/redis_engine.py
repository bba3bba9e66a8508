"""The Redis reservation engine: the same behaviour as ``MemoryEngine``, shared by any
number of API processes, every state change one Lua script (atomic on the server).

Key layout (``P`` is the key prefix, default ``dl``; ``D`` the drop id). Every key of a
drop carries the hash tag ``{D}``, so all keys a script touches are in one cluster slot
and the scripts run unchanged on Redis Cluster. The per-drop keys are passed in KEYS in
a fixed order (see ``lua/_lib.lua``); the only keys a script derives itself are other
holds of the same drop (``P:{D}:h:<hold_id>``) and ``P:{D}:events_dropped``, which
carry the same tag.

    P:{D}:meta        HASH    accepting, drop               missing => DropNotLoaded
    P:{D}:rem         HASH    sku -> units still holdable
    P:{D}:held        HASH    sku -> units in active/paying holds
    P:{D}:lim         HASH    sku -> per-buyer limit         (absent => none)
    P:{D}:paused      HASH    sku -> "1"; sku \\x1f "w" -> the waitlist gate
                              ("armed" or "latched")
    P:{D}:used        HASH    buyer \\x1f sku -> units in live holds + converted + taken
    P:{D}:idem        HASH    buyer \\x1f idempotency key -> hold id
    P:{D}:holds       ZSET    hold id -> forget-at (+inf while live)
    P:{D}:exp         ZSET    hold id -> expires_at           (the expiry index)
    P:{D}:events      STREAM  the drop's event journal, field "e" = event JSON
    P:{D}:h:<hold>    HASH    one hold; terminal holds get a Redis TTL (retention + 1 h)

Keys outside any drop, used by this module between the per-drop scripts (and
``P:hold:<hold>`` by ``place_hold.lua`` on a single server, where any key may be
touched; on Redis Cluster it is in another slot, so this module sets it apart):

    P:{registry}:drops     SET  loaded drop ids: ``expire_due`` has no drop argument,
                                so it walks this registry and runs the per-drop
                                script for each drop
    P:{registry}:journals  SET  drops whose journal may hold events (loaded or not yet
                                drained after ``forget_drop``); ``read_events`` reads
                                the streams of both registries
    P:hold:<hold>          STRING  hold id -> drop id (TTL ``pointer_ttl_s``): the
                                hold-id-only calls (``get_hold``, ``start_payment``,
                                ...) need the drop to build the keys; this process
                                also caches the pointers of holds it placed
    P:journal-lease        STRING  who drains the journal (``journal_lease``)

On Redis Cluster every command and script touches one slot: a drop's keys share the tag
``{D}``, the two registries share the tag ``{registry}`` (they are read with one
``SMEMBERS`` each, merged here, never with a cross-slot ``SUNION``), and each pointer is
a key of its own. Different drops hash to different slots, so hot drops spread over the
masters while each drop's scripts run on one.

Failover: a replica promoted to master has every write its master had copied to it,
not the last few. A drop's meta records the node that loaded it (``CLUSTER MYID``),
and every script treats a drop loaded by another node as not loaded: after a failover
(or a resharding that moves the slot) the first call raises ``DropNotLoaded`` and the
service rebuilds the drop from the ledger, exactly as after ``FLUSHALL``. Its live holds
are lost that way (they fail cleanly at checkout), but nothing the promoted replica
missed (a conversion, a pause, a restock) can linger. On a single server the marker is
empty and never checked.

Journal: one Redis Stream per drop, appended in the same script as the change and
trimmed to ``max_events`` per drop (the trimmed count is added to
``P:{D}:events_dropped``, summed by ``events_dropped()``). An
event id is ``evt_<stream entry id>.<drop id>``, so ``ack_events`` can ``XDEL`` from the
right stream in any process without a lookup. ``forget_drop`` keeps the stream so
undrained events are not lost; ``ack_events`` takes a forgotten drop off the journal
registry once its stream is empty.

Data loss (``FLUSHALL``, a restart without persistence) shows up as a missing meta key:
every drop operation then raises ``DropNotLoaded`` and the service rebuilds the drop
from the ledger.

Coalescing (``coalesce=True``, the default): concurrent calls share pipelined round
trips through ``redis_scripts.CommandBatcher``. The client is created without automatic
retries: a resent non-idempotent script (``take``, ``adjust_offer``) could apply twice.
``place_hold`` is safe to resend anyway: the hold id is chosen here and a script that
finds the hold already there answers with it.

One idea: the Redis engine's Python side (the scripts are in ``lua/``, the
batching pipe in ``redis_wire``); every method is one script call and its decoding.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dropline.domain.errors import (
    DroplineError,
    DropNotLive,
    EngineUnavailable,
    HoldExpired,
    HoldNotActive,
    IdempotencyMismatch,
    InsufficientStock,
    InvalidInput,
    LimitExceeded,
    NotFound,
    RateLimited,
    SoldOut,
    TokenTooOld,
    WindowClosed,
    WindowSoldOut,
)
from dropline.domain.ids import new_id
from dropline.domain.live.access import AccessPolicy, at_text, to_wire
from dropline.domain.live.holds import HOLD_STATUS, ITEM_KIND, Hold, HoldItem, HoldRequest
from dropline.engine.memory import DEFAULT_MAX_EVENTS, DEFAULT_RETENTION_S, check_units
from dropline.engine.redis_cluster import cluster_client, is_cluster_url
from dropline.engine.redis_scripts import ScriptRunner
from dropline.engine.redis_wire import PackedConnection
from dropline.engine.sold_out_gate import DEFAULT_WINDOW_S, SoldOutGate
from dropline.services.ports import DropNotLoaded, DropSnapshot, EngineEvent, SkuCounts

DEFAULT_POINTER_TTL_S = 86_400
_POINTER_CACHE_SIZE = 100_000
_GC_PER_SWEEP = 1000
_END_BATCH = 500  # live holds finished per script run when a drop ends
_SEP = "\x1f"
_ENTRY_ID = re.compile(r"[0-9]+-[0-9]+")
#: Stream entry ids (milliseconds, sequence) only grow, even after Redis loses its data
#: (new ids start from the clock), so every drop's events share one journal.
JOURNAL = "redis"


def _s(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _num(value: float) -> str:
    """A float as text that round-trips exactly (and is valid JSON)."""
    return repr(float(value))


def _items(items: Sequence[HoldItem]) -> list[list[Any]]:
    return [[i.kind.value, i.ref, i.quantity] for i in items]


def _check_ids(*values: str) -> None:
    """Buyer and SKU ids are joined with ``\\x1f`` in hash fields: refuse the byte."""
    for value in values:
        if _SEP in value:
            raise InvalidInput("identifiers cannot contain control characters")


def hold_to_json(hold: Hold) -> bytes:
    """A hold snapshot as JSON (times as floats), the form stored in events."""
    return orjson.dumps(
        {
            "id": hold.id,
            "drop_id": hold.drop_id,
            "buyer_id": hold.buyer_id,
            "items": _items(hold.items),
            "units": dict(hold.units),
            "status": hold.status.value,
            "created_at": hold.created_at,
            "expires_at": hold.expires_at,
            "extended": hold.extended,
            "idempotency_key": hold.idempotency_key,
            "fingerprint": hold.fingerprint,
            "attribution": dict(hold.attribution),
        }
    )


_new = object.__new__


def _hold_item(kind: str, ref: str, quantity: int) -> HoldItem:
    item = _new(HoldItem)
    item.__dict__.update(kind=ITEM_KIND[kind], ref=ref, quantity=int(quantity))
    return item


def hold_from_dict(data: Mapping[str, Any]) -> Hold:
    """The inverse of ``hold_to_json`` (after ``orjson.loads``).

    Every field is set here, converted to its declared type, without the dataclass's
    frozen ``__init__`` (a guarded ``setattr`` per field): the journal drain decodes a
    hold per event, thousands a second, and that ``__init__`` was most of the cost.
    ``tests/integration/test_engine_redis.py`` checks the round trip field by field."""
    hold = _new(Hold)
    hold.__dict__.update(
        id=data["id"],
        drop_id=data["drop_id"],
        buyer_id=data["buyer_id"],
        items=tuple([_hold_item(k, ref, q) for k, ref, q in data["items"]]),
        units={sku: int(n) for sku, n in data["units"].items()},
        status=HOLD_STATUS[data["status"]],
        created_at=float(data["created_at"]),
        expires_at=float(data["expires_at"]),
        extended=bool(data["extended"]),
        idempotency_key=data["idempotency_key"],
        fingerprint=data["fingerprint"],
        attribution=dict(data["attribution"]),
    )
    return hold


def _hold_from_reply(raw: Any) -> Hold:
    return hold_from_dict(orjson.loads(raw))


class RedisEngine:
    """A ``StockEngine`` on Redis (see the module docstring for the key layout)."""

    def __init__(
        self,
        redis: str | aioredis.Redis | aioredis.RedisCluster,
        *,
        coalesce: bool = True,
        prefix: str = "dl",
        retention_s: float = DEFAULT_RETENTION_S,
        max_events: int = DEFAULT_MAX_EVENTS,
        pointer_ttl_s: int = DEFAULT_POINTER_TTL_S,
        max_connections: int = 64,
        sold_out_window_s: float = DEFAULT_WINDOW_S,
    ) -> None:
        """``redis``: a URL (the engine owns the client: blocking pool, no automatic
        retries; ``redis+cluster://`` seed nodes give a cluster client, see
        ``engine/redis_cluster.py``) or a ``redis.asyncio.Redis`` / ``RedisCluster``
        the caller owns (then the caller should disable retries, see the module
        docstring). ``coalesce``: pipeline concurrent
        calls (on by default, per master on a cluster; off to measure). ``prefix``: the key prefix.
        ``retention_s``: how long terminal holds stay readable (by caller time; the
        Redis TTL is this plus one hour). ``max_events``: the journal bound per drop.
        ``pointer_ttl_s``: lifetime of the hold-id → drop pointers.
        ``sold_out_window_s``: how long a ``SoldOut`` answer is given again in-process
        (``engine/sold_out_gate.py``; 0 sends every request to Redis)."""
        self._client: aioredis.Redis | aioredis.RedisCluster
        if isinstance(redis, str) and is_cluster_url(redis):
            self._client = cluster_client(redis, max_connections=max_connections)
            self._owns_client = True
        elif isinstance(redis, str):
            # A blocking pool: without coalescing, a burst of calls waits for one of
            # ``max_connections`` connections instead of failing with "Too many
            # connections" (and instead of opening thousands of sockets).
            pool = aioredis.BlockingConnectionPool.from_url(
                redis,
                max_connections=max_connections,
                retry=Retry(NoBackoff(), 0),
                # rediss:// and unix:// keep their own classes (the URL's scheme wins)
                connection_class=PackedConnection,
            )
            self._client = aioredis.Redis(connection_pool=pool)
            self._owns_client = True
        else:
            self._client = redis
            self._owns_client = False
        self._runner = ScriptRunner(self._client, coalesce=coalesce, max_in_flight=max_connections)
        # Cluster: a script may only touch its drop's slot, so pointers are set apart.
        self._cluster = isinstance(self._client, aioredis.RedisCluster)
        self._prefix = prefix
        self._retention_s = retention_s
        # The Redis TTL is a safety net behind the script's own forgetting: at least 1 h.
        self._ttl_ms = str(int((retention_s + 3600) * 1000))
        self._max_events = str(max_events)
        self._pointer_ttl_s = pointer_ttl_s
        self._pointers: OrderedDict[str, str] = OrderedDict()
        self._sweep_start = 0
        self._gate = SoldOutGate(sold_out_window_s)

    # ------------------------------------------------------------------ plumbing

    def _base(self, drop_id: str) -> str:
        """``P:{D}:`` — the prefix of every key of the drop (one hash tag, one slot)."""
        if "{" in drop_id or "}" in drop_id:
            raise InvalidInput("a drop id cannot contain braces", drop_id=drop_id)
        return f"{self._prefix}:{{{drop_id}}}:"

    def _keys(self, drop_id: str, hold_id: str | None = None) -> list[str]:
        """KEYS for a per-drop script, in the order ``lua/_lib.lua`` expects."""
        base = self._base(drop_id)
        keys = [
            base + name
            for name in (
                "meta",
                "rem",
                "held",
                "lim",
                "paused",
                "used",
                "idem",
                "holds",
                "exp",
                "events",
            )
        ]
        if hold_id is not None:
            keys.append(f"{base}h:{hold_id}")
        return keys

    def _stream(self, drop_id: str) -> str:
        """The drop's event journal (``P:{D}:events``)."""
        return self._base(drop_id) + "events"

    @property
    def _registry(self) -> str:
        return f"{self._prefix}:{{registry}}:drops"

    @property
    def _journals(self) -> str:
        return f"{self._prefix}:{{registry}}:journals"

    def _pointer_key(self, hold_id: str) -> str:
        return f"{self._prefix}:hold:{hold_id}"

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self._runner.run(name, keys, args)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise EngineUnavailable(f"the reservation engine is unreachable: {exc}") from exc

    async def _command(self, *args: Any) -> Any:
        try:
            return await self._runner.command(*args)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise EngineUnavailable(f"the reservation engine is unreachable: {exc}") from exc

    def _remember(self, hold_id: str, drop_id: str) -> None:
        self._pointers[hold_id] = drop_id
        self._pointers.move_to_end(hold_id)
        if len(self._pointers) > _POINTER_CACHE_SIZE:
            self._pointers.popitem(last=False)

    async def _drop_of(self, hold_id: str) -> str | None:
        drop_id = self._pointers.get(hold_id)
        if drop_id is not None:
            return drop_id
        raw = await self._command("GET", self._pointer_key(hold_id))
        if raw is None:
            return None
        drop_id = _s(raw)
        self._remember(hold_id, drop_id)
        return drop_id

    @staticmethod
    def _raise(reply: Sequence[Any], drop_id: str) -> None:
        """Turn a script's ``{"err", code, ...}`` reply into the domain error the memory
        engine raises for the same case (same class, same ``extra``)."""
        code = _s(reply[1])
        a = [_s(x) for x in reply[2:]]
        err: Exception
        if code == "not_loaded":
            err = DropNotLoaded(drop_id)
        elif code == "idempotency_mismatch":
            err = IdempotencyMismatch(
                "this idempotency key was used with a different request", idempotency_key=a[0]
            )
        elif code == "drop_closed":
            err = DropNotLive(f"drop {drop_id} is not accepting holds", drop_id=drop_id)
        elif code == "sku_not_found":
            err = NotFound(f"SKU {a[0]} is not offered in this drop", sku_id=a[0])
        elif code == "offer_not_found":
            err = NotFound(f"SKU {a[0]} is not offered in drop {drop_id}", sku_id=a[0])
        elif code == "sku_paused":
            err = DropNotLive(f"SKU {a[0]} is paused", sku_id=a[0])
        elif code == "sold_out":
            err = SoldOut(f"SKU {a[0]} is sold out", sku_id=a[0])
        elif code == "insufficient_stock":
            err = InsufficientStock(
                f"only {a[1]} of SKU {a[0]} left", sku_id=a[0], remaining=int(a[1])
            )
        elif code == "limit_exceeded":
            err = LimitExceeded(
                f"at most {a[1]} of SKU {a[0]} per buyer",
                sku_id=a[0],
                limit=int(a[1]),
                already=int(a[2]),
            )
        elif code == "rate_limited":
            err = RateLimited(f"too many attempts; retry in {a[0]} s", retry_after_s=int(a[0]))
        elif code == "token_too_old":
            err = TokenTooOld(
                "the buyer token is older than this drop accepts; get a fresh one",
                max_age_s=int(a[0]),
            )
        elif code == "window_closed":
            opens = float(a[0]) if a[0] else None
            err = WindowClosed(
                "your access window has not opened"
                if opens is not None
                else "no access window of this drop admits your tiers",
                opens_at=at_text(opens),
            )
        elif code == "window_sold_out":
            err = WindowSoldOut(
                f"this window's units of SKU {a[0]} are taken",
                sku_id=a[0],
                remaining=int(a[1]),
                next_window_at=at_text(float(a[2]) if a[2] else None),
            )
        elif code == "hold_not_found":
            err = NotFound(f"hold {a[0]} not found", hold_id=a[0])
        elif code == "hold_expired":
            err = HoldExpired(f"hold {a[0]} has expired", hold_id=a[0])
        elif code == "hold_not_active":
            err = HoldNotActive(f"hold {a[0]} is {a[1]}", hold_id=a[0])
        else:
            err = DroplineError(f"unexpected engine reply {code!r}")
        raise err

    async def _checked(
        self, name: str, drop_id: str, args: Sequence[Any], hold_id: str | None = None
    ) -> Sequence[Any]:
        reply = await self._run(name, self._keys(drop_id, hold_id), args)
        if _s(reply[0]) == "err":
            self._raise(reply, drop_id)
        return list(reply)

    # ------------------------------------------------------------------ drops

    async def _load(self, mode: str, snapshot: DropSnapshot) -> bool:
        self._gate.forget(snapshot.drop_id)
        args: list[Any] = [mode, snapshot.drop_id, "1" if snapshot.accepting else "0"]
        args.append(len(snapshot.offers))
        for sku_id, offer in snapshot.offers.items():
            limit = "" if offer.per_buyer_limit is None else offer.per_buyer_limit
            args += [sku_id, max(0, offer.remaining), limit, "1" if offer.paused else "0"]
        taken = [
            (buyer, sku, n)
            for buyer, per_sku in snapshot.buyer_taken.items()
            for sku, n in per_sku.items()
            if n > 0
        ]
        args.append(len(taken))
        for triple in taken:
            args += triple
        access = snapshot.access
        args.append(b"" if access.empty else orjson.dumps(to_wire(access)))
        args.append(orjson.dumps({k: v for k, v in snapshot.sold.items() if v > 0}))
        args.append(orjson.dumps(dict(snapshot.waitlist)))
        # Register before and after loading, while ``forget_drop`` unregisters before
        # wiping: whatever the interleaving with a concurrent forget, a loaded drop
        # ends up in the registry, so the sweeper and the journal reader never miss it.
        await self._command("SADD", self._registry, snapshot.drop_id)
        await self._command("SADD", self._journals, snapshot.drop_id)
        reply = await self._run("load_drop", self._keys(snapshot.drop_id), args)
        await self._command("SADD", self._registry, snapshot.drop_id)
        return int(reply) == 1

    async def ensure_drop(self, snapshot: DropSnapshot) -> bool:
        """Load the drop unless its meta key exists; True if this call loaded it. Safe
        when several processes rebuild the same drop at once (one script wins)."""
        return await self._load("ensure", snapshot)

    async def reset_drop(self, snapshot: DropSnapshot) -> None:
        """Replace the drop's state (its holds are deleted); the journal is kept."""
        await self._load("reset", snapshot)

    async def forget_drop(self, drop_id: str) -> None:
        """Delete every key of the drop except its undrained journal."""
        self._gate.forget(drop_id)
        await self._command("SREM", self._registry, drop_id)
        await self._run("forget_drop", self._keys(drop_id), [])

    async def end_drop(self, drop_id: str, now: float) -> int:
        """Finish the drop's live holds with their events, a batch per script run so
        Redis is never blocked for long, then forget the drop."""
        finished = 0
        while True:
            args = [_num(now), _END_BATCH, self._retention_s, self._ttl_ms, self._max_events]
            seen, done = await self._run("end_holds", self._keys(drop_id), args)
            finished += int(done)
            if int(seen) < _END_BATCH:
                break
        await self.forget_drop(drop_id)
        return finished

    async def set_accepting(self, drop_id: str, accepting: bool) -> None:
        """Open or close the whole drop to new holds."""
        self._gate.forget(drop_id)
        await self._checked("set_accepting", drop_id, ["1" if accepting else "0"])

    async def set_waitlist_gate(self, drop_id: str, sku_id: str, mode: str) -> tuple[int, str]:
        """Set the SKU's waitlist gate in one script (see ``StockEngine``)."""
        _check_ids(sku_id)
        reply = await self._checked("set_waitlist_gate", drop_id, [sku_id, mode])
        self._gate.forget(drop_id)
        return int(reply[1]), _s(reply[2])

    async def set_sku_paused(self, drop_id: str, sku_id: str, paused: bool) -> None:
        """Pause or resume one SKU (``NotFound`` if the drop does not offer it)."""
        self._gate.forget(drop_id)
        await self._checked("set_sku_paused", drop_id, [sku_id, "1" if paused else "0"])

    async def adjust_offer(
        self,
        drop_id: str,
        sku_id: str,
        delta: int,
        per_buyer_limit: int | None,
        *,
        buyer_id: str | None = None,
    ) -> None:
        """Add ``delta`` units (clamped at zero) and set the per-buyer limit; with
        ``buyer_id``, credit that buyer's usage by ``delta`` in the same script."""
        _check_ids(buyer_id or "")
        limit = "" if per_buyer_limit is None else per_buyer_limit
        await self._checked("adjust_offer", drop_id, [sku_id, delta, limit, buyer_id or ""])
        self._gate.forget(drop_id)

    # ------------------------------------------------------------------ holds

    async def place_hold(self, request: HoldRequest, now: float) -> Hold:
        """Take every SKU of ``request.units`` atomically or none; the same checks in
        the same order as ``MemoryEngine.place_hold``, all inside one script."""
        check_units(request.units)
        skus = sorted(request.units)
        key = request.idempotency_key
        shape = None
        if key is None and not request.claim:  # a keyed request may be a replay: ask Redis
            shape = (request.drop_id, tuple((sku, request.units[sku]) for sku in skus))
            refused = self._gate.check(shape)
            if refused is not None:
                raise refused
        _check_ids(request.buyer_id, *skus, key or "")
        hold_id = new_id("hld")
        args: list[Any] = [
            hold_id,
            request.drop_id,
            request.buyer_id,
            "0" if key is None else "1",
            "" if key is None else key,
            request.fingerprint,
            orjson.dumps(_items(request.items)),
            orjson.dumps({sku: request.units[sku] for sku in skus}),
            orjson.dumps(dict(request.attribution)),
            _num(now),
            _num(now + request.ttl_s),
            self._max_events,
            len(skus),
        ]
        for sku in skus:
            args += [sku, request.units[sku]]
        args.append("1" if request.claim else "0")
        keys = self._keys(request.drop_id, hold_id)
        if not self._cluster:  # the script sets the pointer: one round trip, not two
            keys.append(self._pointer_key(hold_id))
        iat = "" if request.issued_at is None else _num(request.issued_at)
        args += [self._pointer_ttl_s, orjson.dumps(sorted(request.tiers)), request.client, iat]
        reply = await self._run("place_hold", keys, args)
        if _s(reply[0]) == "err":
            try:
                self._raise(reply, request.drop_id)
            except SoldOut as err:
                if shape is not None:
                    self._gate.remember(shape, err)
                raise
        hold = _hold_from_reply(reply[1])
        # On Redis Cluster, or an idempotent replay of a hold this process has not seen:
        # make sure every process can find it by id.
        if hold.id not in self._pointers:
            if self._cluster or hold.id != hold_id:
                await self._command(
                    "SET", self._pointer_key(hold.id), request.drop_id, "EX", self._pointer_ttl_s
                )
            self._remember(hold.id, request.drop_id)
        return hold

    # ------------------------------------------------------------------ access

    async def set_access(self, drop_id: str, policy: AccessPolicy) -> None:
        """Replace the drop's windows and limits (``lua/access.lua``); buckets and
        counts are kept."""
        wire = "" if policy.empty else orjson.dumps(to_wire(policy))
        await self._checked("access", drop_id, ["set", wire])
        self._gate.forget(drop_id)

    async def rate_check(
        self,
        drop_id: str,
        action: str,
        buyer_id: str,
        client: str,
        issued_at: float | None,
        now: float,
    ) -> None:
        """The token's age, then one attempt of ``action`` against the drop's buckets,
        in one script."""
        iat = "" if issued_at is None else _num(issued_at)
        args = ["rate", action, buyer_id, client, _num(now), iat]
        await self._checked("access", drop_id, args)

    async def access_stats(self, drop_id: str) -> dict[str, int]:
        """Access refusals by problem code (empty for a drop not loaded)."""
        reply = await self._run("access", self._keys(drop_id), ["stats"])
        return {k: int(v) for k, v in _pairs(reply[1:]).items()}

    async def note_refusal(self, drop_id: str, code: str) -> None:
        reply = await self._run("access", self._keys(drop_id), ["note", code])
        if _s(reply[0]) == "err" and _s(reply[1]) != "not_loaded":
            self._raise(reply, drop_id)

    async def get_hold(self, hold_id: str) -> Hold | None:
        """The hold's snapshot, or None if unknown, forgotten or lost."""
        drop_id = await self._drop_of(hold_id)
        if drop_id is None:
            return None
        reply = await self._run("get_hold", self._keys(drop_id, hold_id), [])
        return _hold_from_reply(reply[1]) if _s(reply[0]) == "ok" else None

    def _finish_args(self, hold_id: str, now: float) -> list[Any]:
        return [hold_id, _num(now), self._retention_s, self._ttl_ms, self._max_events]

    async def start_payment(self, hold_id: str, now: float, cap_s: int) -> Hold:
        """active → paying, extended once (``paying_deadline``); see ``MemoryEngine``."""
        drop_id = await self._drop_of(hold_id)
        if drop_id is None:
            raise NotFound(f"hold {hold_id} not found", hold_id=hold_id)
        args = [hold_id, _num(now), cap_s, self._retention_s, self._ttl_ms, self._max_events]
        reply = await self._checked("start_payment", drop_id, args, hold_id)
        return _hold_from_reply(reply[1])

    async def release(self, hold_id: str, now: float) -> Hold:
        """active/paying → released; ``HoldExpired`` past expiry, else ``HoldNotActive``."""
        drop_id = await self._drop_of(hold_id)
        if drop_id is None:
            raise NotFound(f"hold {hold_id} not found", hold_id=hold_id)
        reply = await self._checked("release", drop_id, self._finish_args(hold_id, now), hold_id)
        self._gate.forget(drop_id)
        return _hold_from_reply(reply[1])

    async def convert(self, hold_id: str, now: float) -> Hold | None:
        """active/paying → converted (idempotent); None when the hold no longer owns its
        units (unknown, expired, released, or the drop's data was lost)."""
        drop_id = await self._drop_of(hold_id)
        if drop_id is None:
            return None
        reply = await self._run(
            "convert", self._keys(drop_id, hold_id), self._finish_args(hold_id, now)
        )
        return _hold_from_reply(reply[1]) if _s(reply[0]) == "ok" else None

    async def take(self, drop_id: str, buyer_id: str, units: Mapping[str, int]) -> bool:
        """Units outside any hold, all or none, within the per-buyer limits
        (``LimitExceeded``), in one script; see ``MemoryEngine``."""
        check_units(units)
        _check_ids(buyer_id, *units)
        args: list[Any] = [buyer_id, len(units)]
        for sku in sorted(units):
            args += [sku, units[sku]]
        reply = await self._checked("take", drop_id, args)
        return int(reply[1]) == 1

    async def expire_due(self, now: float, limit: int = 500) -> list[Hold]:
        """Run the per-drop expiry script for each registered drop until ``limit`` holds
        expired. Each hold leaves the expiry index in the step that expires it, so any
        number of workers may sweep at once and each hold expires exactly once."""
        drops = sorted(_s(d) for d in await self._command("SMEMBERS", self._registry))
        if drops:  # start at a rotating drop so a busy one cannot starve the others
            self._sweep_start = (self._sweep_start + 1) % len(drops)
            drops = drops[self._sweep_start :] + drops[: self._sweep_start]
        expired: list[Hold] = []
        for drop_id in drops:
            budget = limit - len(expired)
            if budget <= 0:
                break
            args = [
                _num(now),
                budget,
                self._retention_s,
                self._ttl_ms,
                self._max_events,
                _GC_PER_SWEEP,
            ]
            reply = await self._run("expire_due", self._keys(drop_id), args)
            if reply:
                self._gate.forget(drop_id)
            expired.extend(_hold_from_reply(raw) for raw in reply)
        return expired

    async def counts(self, drop_id: str) -> dict[str, SkuCounts]:
        """Per SKU: remaining, held (active/paying), paused — one consistent read."""
        reply = await self._checked("counts", drop_id, [])
        rem, held, paused = (_pairs(x) for x in reply[1:4])
        return {
            sku: SkuCounts(
                remaining=int(n),
                held=int(held.get(sku, 0)),
                paused=paused.get(sku) == "1",
                waitlist=paused.get(sku + "\x1fw", ""),
            )
            for sku, n in rem.items()
        }

    # ------------------------------------------------------------------ journal

    async def read_events(self, limit: int = 1000) -> list[EngineEvent]:
        """The oldest ``limit`` events over every drop's stream, oldest first (by
        append time, then stream order), left in place until acknowledged."""
        drop_ids = await self._journal_drops()
        replies = await asyncio.gather(
            *(self._command("XRANGE", self._stream(d), "-", "+", "COUNT", limit) for d in drop_ids)
        )
        found: list[tuple[tuple[int, int], str, str, Any]] = []
        for drop_id, entries in zip(drop_ids, replies, strict=True):
            for entry_id, fields in entries:
                eid = _s(entry_id)
                ms, _, seq = eid.partition("-")
                payload = fields.get(b"e") or fields["e"]  # bytes keys unless decoding
                found.append(((int(ms), int(seq)), eid, drop_id, payload))
        if len(drop_ids) > 1:  # one stream is in order already
            found.sort(key=lambda f: (f[0], f[2]))
            del found[limit:]
        events = []
        for pos, eid, drop_id, payload in found:
            data = orjson.loads(payload)
            events.append(
                EngineEvent(
                    id=f"evt_{eid}.{drop_id}",
                    type=data["type"],
                    at=float(data["at"]),
                    hold=hold_from_dict(data["hold"]),
                    journal=JOURNAL,
                    pos=pos,
                )
            )
        return events

    async def journal_lease(self, owner: str, ttl_s: float) -> bool:
        """Whether ``owner`` may drain the journal now: one drainer at a time over
        every process sharing this Redis, the same owner renewed, another taking over
        once the lease lapses (``P:journal-lease``). Only saves work: the drain is
        exactly-once without it (see ``services/live/hold_journal.py``)."""
        key = f"{self._prefix}:journal-lease"
        return int(await self._run("journal_lease", [key], [owner, int(ttl_s * 1000)])) == 1

    async def ack_events(self, event_ids: list[str]) -> None:
        """``XDEL`` each event from its drop's stream (the id names both)."""
        per_drop: dict[str, list[str]] = {}
        for event_id in event_ids:
            if not event_id.startswith("evt_") or "." not in event_id:
                continue
            entry_id, drop_id = event_id[4:].split(".", 1)
            if _ENTRY_ID.fullmatch(entry_id) is None:
                continue  # not an id this engine made: nothing to remove
            per_drop.setdefault(drop_id, []).append(entry_id)
        for drop_id, entry_ids in per_drop.items():
            stream = self._stream(drop_id)
            await self._command("XDEL", stream, *entry_ids)
            left, loaded = await asyncio.gather(  # one round trip when coalescing
                self._command("XLEN", stream),
                self._command("SISMEMBER", self._registry, drop_id),
            )
            # A drained journal of a forgotten drop leaves the journal registry. A
            # loaded drop is read through ``P:drops`` anyway, so a race with a reload
            # here cannot hide events.
            if int(left) == 0 and not int(loaded):
                await self._command("SREM", self._journals, drop_id)

    async def _journal_drops(self) -> list[str]:
        """Both registries, merged here: one read per key, so it works on a cluster
        whatever slots they are in."""
        loaded, journals = await asyncio.gather(
            self._command("SMEMBERS", self._registry), self._command("SMEMBERS", self._journals)
        )
        return sorted({_s(d) for d in loaded} | {_s(d) for d in journals})

    async def events_dropped(self) -> int:
        """Events discarded by the journal bound, summed over the journalled drops."""
        drop_ids = await self._journal_drops()
        counts = await asyncio.gather(
            *(self._command("GET", self._base(d) + "events_dropped") for d in drop_ids)
        )
        return sum(int(c) for c in counts if c is not None)

    async def ping(self) -> None:
        """Round trip to Redis; ``EngineUnavailable`` when it cannot be reached."""
        await self._command("PING")

    async def close(self) -> None:
        """Stop the batcher and close the client if this engine created it."""
        await self._runner.close()
        if self._owns_client:
            if isinstance(self._client, aioredis.RedisCluster):
                await self._client.aclose()
            else:
                await self._client.aclose(close_connection_pool=True)


def _pairs(flat: Sequence[Any]) -> dict[str, str]:
    it = iter(flat)
    return {_s(k): _s(v) for k, v in zip(it, it, strict=True)}

"""Who may call: API keys with scopes, and buyer tokens.

Scopes are ordered: ``admin`` ⊇ ``ops`` ⊇ ``storefront``. A storefront key can read
public drop data, place holds and check out, nothing else. Keys are random, shown once,
and stored only as SHA-256 hashes. A key may expire; a rotation issues a successor with
the same name and scope and retires the old key after a grace period.

Verified keys are cached so the hot path does not hit the database on every tap. A
revocation or rotation makes every process forget its cached keys before it returns
(``services.ports.KeyEvents``); a process that cannot hear the others (the Redis
subscription is down, or the in-process engine with a CLI in another process) keeps a
key only ``unheard_cache_s``. Expiry needs no notice: a cached key carries its expiry.

When each key was last used is noted in memory, at most once a minute per key, and
written by ``flush_usage`` in the background: never a database write on a request.

Buyer tokens (which buyer a storefront call is for) are ``buyer_tokens.BuyerTokens``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dropline.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from dropline.domain.ids import new_id
from dropline.domain.platform import api_keys as rules
from dropline.domain.platform.api_keys import SCOPES
from dropline.services.platform.buyer_tokens import (
    BuyerIdentity,
    BuyerTokens,
    check_claims,
    mint_v1,
    v1_claims,
)
from dropline.services.ports import Clock, KeyEvents, SystemClock
from dropline.services.single_flight import SingleFlight
from dropline.store.platform.access_repo import ApiKeyRecord
from dropline.store.uow import UowFactory

_RANK = {s: i for i, s in enumerate(SCOPES)}
KEY_PREFIX = "dlk_"


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    scope: str

    def allows(self, needed: str) -> bool:
        return _RANK[self.scope] >= _RANK[needed]

    def require(self, needed: str) -> None:
        if not self.allows(needed):
            raise Forbidden(f"this key has scope {self.scope!r}; {needed!r} is needed")


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def mint_buyer_token(
    secret: str, buyer_id: str, ttl_s: int = 3600, now: float | None = None
) -> str:
    """A buyer token in the deprecated ``v1`` format (``buyer_tokens.mint_v1``)."""
    return mint_v1(secret, buyer_id, ttl_s, now)


def verify_buyer_token(secret: str, token: str, now: float | None = None) -> str:
    """The buyer id inside a valid, unexpired ``v1`` token; ``Unauthenticated`` otherwise."""
    return check_claims(*v1_claims(secret, token), now or time.time())[0]


class KeyUsage:
    """When each key was last used, noted in memory at most once per ``every_s`` per
    key (a dict look-up per request) and handed to ``flush_usage`` to write."""

    def __init__(self, every_s: float = rules.LAST_USED_EVERY_S) -> None:
        self.every_s = every_s
        self._noted: dict[str, float] = {}  # key id → monotonic time last noted
        self.pending: dict[str, float] = {}  # key id → wall time of that use

    def seen(self, key_id: str, mono: float, wall: float) -> None:
        noted = self._noted.get(key_id)
        if noted is None or mono - noted >= self.every_s:
            self._noted[key_id] = mono
            self.pending[key_id] = wall

    def take(self) -> dict[str, float]:
        taken, self.pending = self.pending, {}
        return taken

    def put_back(self, taken: dict[str, float]) -> None:
        """A write that failed: keep its times unless a newer use was noted since."""
        for key_id, wall in taken.items():
            self.pending.setdefault(key_id, wall)


#: A cached key: (monotonic time cached, principal or None if unknown/revoked, expiry).
_Cached = tuple[float, Principal | None, datetime | None]


class AccessService:
    """API keys (create, rotate, revoke, authenticate with a cache) and the buyer of a
    buyer token. ``events`` carries key changes to the other API processes; ``clock``
    decides expiry and last use (tests move it)."""

    def __init__(
        self,
        uow: UowFactory,
        tokens: BuyerTokens,
        events: KeyEvents | None = None,
        clock: Clock | None = None,
        *,
        cache_s: float = 30.0,
        unheard_cache_s: float = 2.0,
    ) -> None:
        self.uow = uow
        self.tokens = tokens
        self.events: KeyEvents = events if events is not None else _NoEvents()
        self.clock: Clock = clock or SystemClock()
        self.cache_s = cache_s
        self.unheard_cache_s = unheard_cache_s
        self.usage = KeyUsage()
        self._cache: dict[str, _Cached] = {}
        self._generation = 0
        self._flight: SingleFlight[tuple[str, int], ApiKeyRecord | None] = SingleFlight()

    # ------------------------------------------------------------------ keys

    def _now(self) -> datetime:
        return _utc(self.clock.now())

    async def create_key(
        self, name: str, scope: str, expires_at: datetime | None = None
    ) -> tuple[str, ApiKeyRecord]:
        """A new key; the raw value is returned once and never stored."""
        if scope not in _RANK:
            raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}")
        if not name.strip():
            raise InvalidInput("a key needs a name")
        rules.check_expiry(expires_at, self._now())
        raw, key_id = _new_raw_key(), new_id("key")
        async with self.uow() as uow:
            await uow.access.add_key(
                key_id, name.strip(), raw[:10], hash_key(raw), frozenset({scope}), expires_at
            )
            uow.audit(
                "key.created", "api_key", key_id, after={"name": name.strip(), "scope": scope}
            )
            await uow.commit()
        return raw, await self.get_key(key_id)

    async def get_key(self, key_id: str) -> ApiKeyRecord:
        async with self.uow(readonly=True) as uow:
            rec = await uow.access.key_by_id(key_id)
        if rec is None:
            raise NotFound(f"key {key_id} not found")
        return rec

    async def list_keys(self) -> list[ApiKeyRecord]:
        async with self.uow(readonly=True) as uow:
            return await uow.access.list_keys()

    async def key_active(self, key_id: str) -> bool:
        """Whether the key exists and is neither revoked nor expired (read afresh)."""
        async with self.uow(readonly=True) as uow:
            rec = await uow.access.key_by_id(key_id)
        return rec is not None and rules.usable(rec.revoked_at, rec.expires_at, self._now())

    async def revoke_key(self, key_id: str) -> None:
        """Revoke at once: when this returns, no process accepts the key any more."""
        async with self.uow() as uow:
            if not await uow.access.revoke_key(key_id):
                raise NotFound(f"active key {key_id} not found")
            uow.audit("key.revoked", "api_key", key_id, after={"revoked": True})
            await uow.commit()
        await self._changed()

    async def rotate_key(
        self,
        key_id: str,
        grace: timedelta = timedelta(hours=24),
        expires_at: datetime | None = None,
    ) -> tuple[str, ApiKeyRecord]:
        """Issue a successor of a usable key (same name and scope, raw value returned
        once) and retire the old one after ``grace`` (0 retires it now). A key already
        rotated is refused: rotate its successor."""
        now = self._now()
        rules.check_expiry(expires_at, now)
        raw, new_key = _new_raw_key(), new_id("key")
        async with self.uow() as uow:
            old = await uow.access.key_by_id(key_id, for_update=True)
            if old is None or not rules.usable(old.revoked_at, old.expires_at, now):
                raise NotFound(f"active key {key_id} not found")
            if old.replaced_by is not None:
                raise Conflict(
                    f"key {key_id} was already rotated to {old.replaced_by}; rotate that one",
                    replaced_by=old.replaced_by,
                )
            retire = rules.retirement(now, grace, old.expires_at)
            await uow.access.add_key(
                new_key, old.name, raw[:10], hash_key(raw), old.scopes, expires_at
            )
            await uow.access.retire_key(key_id, retire, new_key)
            await uow.commit()
        await self._changed()
        return raw, await self.get_key(new_key)

    # ------------------------------------------------------------------ the cache

    def forget(self) -> None:
        """Drop every cached key, and any lookup in flight (it may predate a change)."""
        self._generation += 1
        self._cache.clear()

    async def _changed(self) -> None:
        self.forget()
        await self.events.announce()

    async def watch(self) -> None:
        """Forget cached keys whenever another process changes one; run by each API
        process until cancelled."""
        await self.events.listen(self.forget)

    async def _lookup(self, digest: str) -> ApiKeyRecord | None:
        async with self.uow(readonly=True) as uow:
            return await uow.access.key_by_hash(digest)

    async def authenticate(self, raw: str | None) -> Principal:
        """The principal for a raw API key; ``Unauthenticated`` if missing, unknown,
        revoked or expired."""
        if not raw:
            raise Unauthenticated("an API key is required (Authorization: Bearer <key>)")
        digest = hash_key(raw)
        mono = time.monotonic()
        hit = self._cache.get(digest)
        ttl = self.cache_s if self.events.hears_others else self.unheard_cache_s
        if hit is None or mono - hit[0] > ttl:
            hit = await self._load(digest, mono)
        principal, expires = hit[1], hit[2]
        if principal is None:
            raise Unauthenticated("the API key is unknown or revoked")
        wall = self.clock.now()
        if expires is not None and not rules.usable(None, expires, _utc(wall)):
            raise Unauthenticated("the API key has expired")
        self.usage.seen(principal.key_id, mono, wall)
        return principal

    async def _load(self, digest: str, mono: float) -> _Cached:
        generation = self._generation
        rec = await self._flight.do((digest, generation), lambda: self._lookup(digest))
        entry: _Cached = (mono, None, None)
        if rec is not None and rec.revoked_at is None:
            principal = Principal(rec.id, rec.name, max(rec.scopes, key=_RANK.__getitem__))
            entry = (mono, principal, rec.expires_at)
        if generation == self._generation:  # nothing changed while we looked
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = entry
        return entry

    async def flush_usage(self) -> int:
        """Write the last-use times noted since the last flush; how many keys."""
        taken = self.usage.take()
        if not taken:
            return 0
        try:
            async with self.uow() as uow:
                await uow.access.touch_keys({k: _utc(t) for k, t in taken.items()})
                await uow.commit()
        except Exception:
            self.usage.put_back(taken)
            raise
        return len(taken)

    async def close(self) -> None:
        await self.events.close()

    # ------------------------------------------------------------------ buyers

    async def buyer(self, token: str | None) -> str:
        """The buyer of a valid buyer token (``BuyerTokens.buyer``)."""
        return await self.tokens.buyer(token)

    async def identity(self, token: str | None) -> BuyerIdentity:
        """The buyer, tiers and issue time of a valid buyer token."""
        return await self.tokens.identity(token)

    def mint(self, buyer_id: str, ttl_s: int = 3600, tiers: list[str] | None = None) -> str:
        """An HS256 buyer token with the configured key, for testing and the demo."""
        return self.tokens.mint(buyer_id, ttl_s, tiers)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _new_raw_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(24)


class _NoEvents:
    """No other process to tell or hear (tests that build the service by hand)."""

    hears_others = False

    async def announce(self) -> None:
        return None

    async def listen(self, on_change: object) -> None:
        return None

    async def close(self) -> None:
        return None

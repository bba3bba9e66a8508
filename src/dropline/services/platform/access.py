"""Who may call: API keys with scopes, and signed buyer tokens.

Scopes are ordered: ``admin`` ⊇ ``ops`` ⊇ ``storefront``. A storefront key can read
public drop data, place holds and check out, nothing else. Keys are random, shown once,
and stored only as SHA-256 hashes; verified keys are cached briefly so the hot path does
not hit the database on every tap.

A buyer token proves which buyer a storefront request is for (per-buyer limits depend on
it). The creator's site mints it with the shared secret:

    payload = base64url(json({"sub": buyer_id, "exp": unix_seconds}))
    token   = "v1." + payload + "." + base64url(hmac_sha256(secret, "v1." + payload))
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

import orjson

from dropline.domain.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from dropline.domain.ids import new_id
from dropline.services.single_flight import SingleFlight
from dropline.store.platform.access_repo import ApiKeyRecord
from dropline.store.uow import UowFactory

SCOPES = ("storefront", "ops", "admin")
_RANK = {s: i for i, s in enumerate(SCOPES)}
KEY_PREFIX = "dlk_"
MAX_BUYER_ID = 120


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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_buyer_token(
    secret: str, buyer_id: str, ttl_s: int = 3600, now: float | None = None
) -> str:
    """A buyer token as the creator's site would mint it."""
    if not buyer_id or len(buyer_id) > MAX_BUYER_ID:
        raise InvalidInput(f"buyer id must be 1 to {MAX_BUYER_ID} characters")
    exp = int((now if now is not None else time.time()) + ttl_s)
    body = "v1." + _b64(json.dumps({"sub": buyer_id, "exp": exp}, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(sig)}"


def _claims(secret: str, token: str) -> tuple[object, object]:
    """``sub`` and ``exp`` of a well-formed token with a valid signature (unchecked)."""
    try:
        version, payload, sig = token.split(".")
    except ValueError:
        raise Unauthenticated("malformed buyer token") from None
    expected = hmac.digest(secret.encode(), f"{version}.{payload}".encode(), "sha256")
    try:
        given = _unb64(sig)
        claims = orjson.loads(_unb64(payload))
    except ValueError:  # orjson.JSONDecodeError and binascii.Error are ValueErrors
        raise Unauthenticated("malformed buyer token") from None
    if version != "v1" or not hmac.compare_digest(expected, given):
        raise Unauthenticated("buyer token signature is invalid")
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
        raise Unauthenticated("buyer token has no subject")
    return claims["sub"], claims.get("exp")


def _check_claims(sub: object, exp: object, now: float) -> tuple[str, int]:
    if not isinstance(exp, int) or exp < now:
        raise Unauthenticated("buyer token has expired")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_BUYER_ID:
        raise Unauthenticated("buyer token subject is invalid")
    return sub, exp


def verify_buyer_token(secret: str, token: str, now: float | None = None) -> str:
    """The buyer id inside a valid, unexpired token; ``Unauthenticated`` otherwise."""
    sub, exp = _claims(secret, token)
    return _check_claims(sub, exp, now or time.time())[0]


BUYER_CACHE = 100_000


class AccessService:
    def __init__(self, uow: UowFactory, buyer_secret: str, cache_s: float = 30.0) -> None:
        self.uow = uow
        self.buyer_secret = buyer_secret
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._buyers: dict[str, tuple[str, int]] = {}
        self._flight: SingleFlight[str, ApiKeyRecord | None] = SingleFlight()

    async def create_key(self, name: str, scope: str) -> tuple[str, ApiKeyRecord]:
        """A new key; the raw value is returned once and never stored."""
        if scope not in _RANK:
            raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}")
        if not name.strip():
            raise InvalidInput("a key needs a name")
        raw = KEY_PREFIX + secrets.token_urlsafe(24)
        key_id = new_id("key")
        async with self.uow() as uow:
            await uow.access.add_key(
                key_id, name.strip(), raw[:10], hash_key(raw), frozenset({scope})
            )
            uow.audit(
                "key.created", "api_key", key_id, after={"name": name.strip(), "scope": scope}
            )
            await uow.commit()
            rec = await self._by_id(key_id)
        return raw, rec

    async def _by_id(self, key_id: str) -> ApiKeyRecord:
        async with self.uow(readonly=True) as uow:
            for k in await uow.access.list_keys():
                if k.id == key_id:
                    return k
        raise NotFound(f"key {key_id} not found")

    async def list_keys(self) -> list[ApiKeyRecord]:
        async with self.uow(readonly=True) as uow:
            return await uow.access.list_keys()

    async def revoke_key(self, key_id: str) -> None:
        async with self.uow() as uow:
            if not await uow.access.revoke_key(key_id):
                raise NotFound(f"active key {key_id} not found")
            uow.audit("key.revoked", "api_key", key_id, after={"revoked": True})
            await uow.commit()
        self._cache.clear()

    async def _lookup(self, digest: str) -> ApiKeyRecord | None:
        async with self.uow(readonly=True) as uow:
            return await uow.access.key_by_hash(digest)

    async def authenticate(self, raw: str | None) -> Principal:
        """The principal for a raw API key; ``Unauthenticated`` if missing/unknown/revoked."""
        if not raw:
            raise Unauthenticated("an API key is required (Authorization: Bearer <key>)")
        digest = hash_key(raw)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is None or now - hit[0] > self.cache_s:
            rec = await self._flight.do(digest, lambda: self._lookup(digest))
            principal = None
            if rec is not None and rec.revoked_at is None:
                principal = Principal(rec.id, rec.name, max(rec.scopes, key=_RANK.__getitem__))
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now, principal)
            hit = self._cache[digest]
        if hit[1] is None:
            raise Unauthenticated("the API key is unknown or revoked")
        return hit[1]

    def buyer(self, token: str | None) -> str:
        """The buyer of a valid token. A buyer taps again and again with one token, so
        tokens that verified are remembered (up to ``BUYER_CACHE`` of them) and only
        their expiry is checked again; a bad token is verified, and refused, each time."""
        if not token:
            raise Unauthenticated("a buyer token is required (X-Buyer-Token header)")
        now = time.time()
        hit = self._buyers.get(token)
        if hit is not None:
            if hit[1] < now:
                raise Unauthenticated("buyer token has expired")
            return hit[0]
        sub, exp = _check_claims(*_claims(self.buyer_secret, token), now)
        if len(self._buyers) >= BUYER_CACHE:
            self._buyers.clear()
        self._buyers[token] = (sub, exp)
        return sub

    def mint(self, buyer_id: str, ttl_s: int = 3600) -> str:
        return mint_buyer_token(self.buyer_secret, buyer_id, ttl_s)

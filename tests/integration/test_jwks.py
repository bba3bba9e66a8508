"""Buyer tokens signed with the creator's own keys (EdDSA, RS256), published as a JWKS
document by a real local HTTP server: holds through the API (hot path and FastAPI route)
on both backends, rotation on the site's side, a flood of made-up key ids, and the
site's JWKS being down."""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from backends import REDIS_URL, require_redis
from dropline.api.app import create_app
from dropline.auth.jwks import FIRST_FETCH_RETRY_S, JwksKeys
from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.domain.errors import KeysUnavailable, Unauthenticated
from dropline.services.platform.buyer_tokens import BuyerTokenPolicy, BuyerTokens
from support import Shop, seed_shop


def b64(data: bytes) -> str:
    return jwt.utils.base64url_encode(data).decode()


def hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """A JWT signed with HMAC-SHA256 under ``key`` whatever its header says (PyJWT
    refuses to make such a forgery)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), 'sha256').digest())}"


class JwksSite:
    """The creator's site: serves ``doc`` at ``url`` (or ``status`` when it is not 200)
    and counts the requests."""

    def __init__(self) -> None:
        self.doc: dict[str, Any] = {"keys": []}
        self.status = 200
        self.requests = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests += 1
                body = json.dumps(site.doc).encode() if site.status == 200 else b"down"
                self.send_response(site.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, *jwks: dict[str, Any]) -> None:
        self.doc = {"keys": list(jwks)}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SiteKey:
    """One signing key of the site: the private half signs, the public half is a JWK."""

    def __init__(self, kid: str, alg: str) -> None:
        self.kid, self.alg = kid, alg
        if alg == "EdDSA":
            self.private: Any = ed25519.Ed25519PrivateKey.generate()
            public = jwt.algorithms.OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwk = {**public, "kid": kid, "use": "sig", "alg": alg}

    def token(self, sub: str, ttl_s: int = 600, **claims: Any) -> str:
        now = int(time.time())
        body = {"sub": sub, "iat": now, "exp": now + ttl_s, **claims}
        return jwt.encode(body, self.private, algorithm=self.alg, headers={"kid": self.kid})


@pytest.fixture
def site() -> Iterator[JwksSite]:
    s = JwksSite()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def ed() -> SiteKey:
    return SiteKey("site-ed-2026", "EdDSA")


@pytest.fixture(scope="module")
def rs() -> SiteKey:
    return SiteKey("site-rs-2026", "RS256")


# --------------------------------------------------------------------------- the API


async def _container(database_url: str, **settings: Any) -> Container:
    engine_url = "memory"
    if database_url.startswith("postgresql"):
        require_redis()
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        await client.flushdb()
        await client.aclose()
        engine_url = REDIS_URL
    return await build(
        Settings(
            database_url=database_url,
            engine_url=engine_url,
            background_tasks=False,
            **settings,
        )
    )


class Api:
    def __init__(self, c: Container, shop: Shop, store: str, clients: list[httpx.AsyncClient]):
        self.c, self.shop, self.store, self.clients = c, shop, store, clients

    async def hold(self, token: str) -> list[tuple[int, str | None]]:
        """Place a hold with ``token`` through the hot path and the FastAPI route: (status,
        problem code or None) of each."""
        out = []
        for client in self.clients:
            r = await client.post(
                f"/v1/drops/{self.shop.drop_id}/holds",
                json={"items": [{"sku_id": self.shop.skus[0], "quantity": 1}]},
                headers={"Authorization": f"Bearer {self.store}", "X-Buyer-Token": token},
            )
            out.append((r.status_code, r.json().get("code")))
        return out


@pytest.fixture
async def api(database_url: str, site: JwksSite) -> AsyncIterator[Api]:
    c = await _container(
        database_url,
        buyer_token_jwks_url=site.url,
        buyer_token_v1=False,
        buyer_token_issuer="https://shop.example",
    )
    try:
        shop = await seed_shop(c, units=50, limit=10)
        store, _ = await c.access.create_key("storefront", "storefront")
        base = "http://dropline.test"
        fast = create_app(container=c)
        slow = create_app(settings=c.settings.model_copy(update={"hot_path": False}), container=c)
        for app in (fast, slow):
            app.state.container = c
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url=base) as hot,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=slow), base_url=base) as route,
        ):
            yield Api(c, shop, store, [hot, route])
    finally:
        await c.close()


ISS = {"iss": "https://shop.example"}


async def test_eddsa_and_rs256_tokens_verify_with_the_sites_jwks(
    api: Api, site: JwksSite, ed: SiteKey, rs: SiteKey
) -> None:
    site.publish(ed.jwk, rs.jwk)
    assert await api.hold(ed.token("ann", **ISS)) == [(201, None), (201, None)]
    assert await api.hold(rs.token("bob", **ISS)) == [(201, None), (201, None)]
    # dropline holds no secret that mints tokens: it cannot mint one itself.
    with pytest.raises(Exception, match="no HS256 buyer token key"):
        api.c.access.mint("eve")


async def test_forged_expired_and_foreign_tokens_are_401(
    api: Api, site: JwksSite, ed: SiteKey, rs: SiteKey
) -> None:
    site.publish(ed.jwk, rs.jwk)
    pem = rs.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {"sub": "eve", "exp": now + 600, **ISS}
    stranger = SiteKey(ed.kid, "EdDSA")  # the site's kid, a key the site never published
    bad = {
        "HS256 signed with the RSA public key": hand_signed(
            {"alg": "HS256", "typ": "JWT", "kid": rs.kid}, claims, pem
        ),
        "alg none": hand_signed({"alg": "none", "kid": ed.kid}, claims, b"").rsplit(".", 1)[0]
        + ".",
        "expired": ed.token("eve", ttl_s=-120, **ISS),
        "wrong issuer": ed.token("eve", iss="https://evil.example"),
        "no issuer": ed.token("eve"),
        "unpublished key": stranger.token("eve", **ISS),
        "unknown kid": SiteKey("nobody", "EdDSA").token("eve", **ISS),
        "v1 while disabled": "v1.e30.AAAA",
    }
    for name, token in bad.items():
        assert await api.hold(token) == [(401, "unauthenticated")] * 2, name


async def test_an_unreachable_jwks_is_503_until_the_site_answers(
    api: Api, site: JwksSite, ed: SiteKey
) -> None:
    site.publish(ed.jwk)
    site.status = 500
    assert await api.hold(ed.token("ann", **ISS)) == [(503, "keys_unavailable")] * 2
    site.status = 200
    await asyncio.sleep(FIRST_FETCH_RETRY_S + 0.05)
    assert (await api.hold(ed.token("ann", **ISS)))[0] == (201, None)


# --------------------------------------------------------------------------- the adapter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_rotation_on_the_site_new_kid_found_removed_kid_stops_after_refresh(
    site: JwksSite, ed: SiteKey, rs: SiteKey
) -> None:
    mono = Clock()
    keys = JwksKeys(site.url, refresh_s=300, cooldown_s=30, clock=mono)
    wall = [time.time()]
    tokens = BuyerTokens(BuyerTokenPolicy(recheck_s=300), keys, clock=lambda: wall[0])
    site.publish(ed.jwk)
    old = ed.token("ann")
    assert await tokens.buyer(old) == "ann"
    # The site adds its next key and starts signing with it.
    site.publish(ed.jwk, rs.jwk)
    new = rs.token("bob")
    with pytest.raises(Unauthenticated, match="unknown"):
        await tokens.buyer(new)  # fetched a moment ago: no refetch within the cooldown
    mono.t += 31
    assert await tokens.buyer(new) == "bob"  # an unknown kid fetches again
    # The site withdraws the old key: it verifies until the key set is refreshed...
    site.publish(rs.jwk)
    mono.t += 100
    assert await tokens.buyer(old) == "ann"
    # ...and not after (the cached token is verified again after recheck_s too).
    mono.t += 300
    wall[0] += 301
    with pytest.raises(Unauthenticated, match="unknown"):
        await tokens.buyer(old)
    assert await tokens.buyer(new) == "bob"


async def test_made_up_kids_fetch_at_most_once_per_cooldown(site: JwksSite, ed: SiteKey) -> None:
    mono = Clock()
    keys = JwksKeys(site.url, cooldown_s=30, clock=mono)
    site.publish(ed.jwk)
    for _ in range(50):
        assert await keys.key(uuid.uuid4().hex) is None
    assert site.requests == 1
    mono.t += 31
    for _ in range(50):
        assert await keys.key(uuid.uuid4().hex) is None
    assert site.requests == 2


async def test_an_outage_after_a_fetch_keeps_the_last_key_set(site: JwksSite, ed: SiteKey) -> None:
    mono = Clock()
    keys = JwksKeys(site.url, refresh_s=300, cooldown_s=30, clock=mono)
    never = JwksKeys(site.url, clock=mono)
    site.publish(ed.jwk)
    assert (await keys.key(ed.kid)) is not None
    site.status = 500
    with pytest.raises(KeysUnavailable):
        await never.key(ed.kid)
    mono.t += 301  # the set is stale; the refetch fails; the last set still answers
    assert (await keys.key(ed.kid)) is not None
    assert site.requests == 3
    mono.t += 10  # within the cooldown: no new attempt
    assert (await keys.key(ed.kid)) is not None
    assert site.requests == 3

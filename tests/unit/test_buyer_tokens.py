"""Buyer tokens as JWTs: HS256 keys chosen by kid (rotation), public keys from a key
source (the JWKS adapter is tested over real HTTP in tests/integration/test_jwks.py),
iss/aud, expiry with leeway, refused algorithms, and the v1 format behind its setting."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from pydantic import ValidationError

from dropline.config import DEV_BUYER_SECRET, Settings
from dropline.domain.errors import InvalidInput, Unauthenticated
from dropline.services.platform.buyer_tokens import (
    DEFAULT_KID,
    BuyerTokenPolicy,
    BuyerTokens,
    mint_jwt,
    mint_v1,
)

OLD = "o" * 32 + "-previous-site-secret"
NEW = "n" * 32 + "-current-site-secret"


def now() -> float:
    """PyJWT checks exp/iat/nbf against the real time; tokens are minted around it."""
    return time.time()


def tokens(policy: BuyerTokenPolicy, keys: Any = None) -> BuyerTokens:
    return BuyerTokens(policy, keys)


async def refused(t: BuyerTokens, token: str, match: str) -> None:
    with pytest.raises(Unauthenticated, match=match):
        await t.buyer(token)


def b64(data: bytes) -> str:
    return jwt.utils.base64url_encode(data).decode()


def hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """A JWT signed with HMAC-SHA256 under ``key`` whatever the header says (PyJWT
    itself refuses to make the forgeries below)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


async def test_hs256_rotation_old_and_new_kid_verify_then_removed_kid_fails() -> None:
    during = tokens(BuyerTokenPolicy(hs256={"k2": NEW, "k1": OLD}))
    old_token = mint_jwt(OLD, "k1", "ann", 600, now())
    new_token = mint_jwt(NEW, "k2", "bob", 600, now())
    assert await during.buyer(old_token) == "ann"
    assert await during.buyer(new_token) == "bob"
    after = tokens(BuyerTokenPolicy(hs256={"k2": NEW}))
    assert await after.buyer(new_token) == "bob"
    await refused(after, old_token, "key 'k1' is unknown")
    # The kid picks the key: the old secret under the new kid is a bad signature.
    await refused(after, mint_jwt(OLD, "k2", "ann", 600, now()), "signature is invalid")


async def test_a_jwt_needs_a_kid_and_a_sub_and_an_exp() -> None:
    t = tokens(BuyerTokenPolicy(hs256={"k": NEW}))
    no_kid = jwt.encode({"sub": "ann", "exp": int(now()) + 60}, NEW, algorithm="HS256")
    await refused(t, no_kid, "no key id")
    no_exp = jwt.encode({"sub": "ann"}, NEW, algorithm="HS256", headers={"kid": "k"})
    await refused(t, no_exp, "lacks a required claim")
    no_sub = jwt.encode({"exp": int(now()) + 60}, NEW, algorithm="HS256", headers={"kid": "k"})
    await refused(t, no_sub, "lacks a required claim")
    long_sub = mint_jwt(NEW, "k", "x" * 120, 60, now())
    assert await t.buyer(long_sub) == "x" * 120
    too_long = jwt.encode(
        {"sub": "x" * 121, "exp": int(now()) + 60}, NEW, algorithm="HS256", headers={"kid": "k"}
    )
    await refused(t, too_long, "subject is invalid")
    await refused(t, "not-a-token", "malformed")


async def test_expired_is_refused_beyond_the_leeway_only() -> None:
    t = tokens(BuyerTokenPolicy(hs256={"k": NEW}, leeway_s=30))
    assert await t.buyer(mint_jwt(NEW, "k", "ann", 60, now() - 60 - 25)) == "ann"
    await refused(t, mint_jwt(NEW, "k", "ann", 60, now() - 60 - 35), "expired")


async def test_a_cached_token_still_expires() -> None:
    start = now()
    clock = [start]
    t = BuyerTokens(BuyerTokenPolicy(hs256={"k": NEW}, leeway_s=0), clock=lambda: clock[0])
    token = mint_jwt(NEW, "k", "ann", 60, start)
    assert await t.buyer(token) == "ann"
    clock[0] = start + 61
    await refused(t, token, "expired")


async def test_issuer_and_audience_are_checked_when_configured() -> None:
    policy = BuyerTokenPolicy(hs256={"k": NEW}, issuer="https://shop.example", audience="dl")
    t = tokens(policy)
    ok = mint_jwt(NEW, "k", "ann", 60, now(), issuer="https://shop.example", audience="dl")
    assert await t.buyer(ok) == "ann"
    wrong_iss = mint_jwt(NEW, "k", "ann", 60, now(), issuer="https://evil.example", audience="dl")
    await refused(t, wrong_iss, "issuer is not accepted")
    wrong_aud = mint_jwt(NEW, "k", "ann", 60, now(), issuer="https://shop.example", audience="x")
    await refused(t, wrong_aud, "audience is not accepted")
    await refused(t, mint_jwt(NEW, "k", "ann", 60, now()), "lacks a required claim")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_alg_none_and_a_foreign_alg_are_refused() -> None:
    t = tokens(BuyerTokenPolicy(hs256={"k": NEW}))
    claims = {"sub": "ann", "exp": int(now()) + 60}
    unsigned = f"{b64(json.dumps({'alg': 'none', 'kid': 'k'}).encode())}."
    unsigned += f"{b64(json.dumps(claims).encode())}."
    await refused(t, unsigned, "algorithm does not match")
    hs512 = jwt.encode(claims, NEW, algorithm="HS512", headers={"kid": "k"})
    await refused(t, hs512, "algorithm does not match")


class FakeKeys:
    """A key source holding fixed JWKs (the SigningKeys port)."""

    def __init__(self, *jwks: dict[str, Any]) -> None:
        self.keys = {k["kid"]: jwt.PyJWK.from_dict(k) for k in jwks}

    async def key(self, kid: str) -> jwt.PyJWK | None:
        return self.keys.get(kid)


def ed25519_pair(kid: str) -> tuple[ed25519.Ed25519PrivateKey, dict[str, Any]]:
    private = ed25519.Ed25519PrivateKey.generate()
    public = jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return private, {**public, "kid": kid, "use": "sig"}


def rsa_pair(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return private, {**public, "kid": kid, "alg": "RS256"}


@pytest.fixture(scope="module")
def site_keys() -> dict[str, Any]:
    ed, ed_jwk = ed25519_pair("ed-1")
    rs, rs_jwk = rsa_pair("rs-1")
    return {"ed": ed, "ed_jwk": ed_jwk, "rs": rs, "rs_jwk": rs_jwk}


def signed(private: Any, alg: str, kid: str, **claims: Any) -> str:
    body = {"sub": "ann", "exp": int(now()) + 60, **claims}
    return jwt.encode(body, private, algorithm=alg, headers={"kid": kid})


async def test_eddsa_and_rs256_verify_with_the_sites_public_keys(site_keys: Any) -> None:
    t = tokens(BuyerTokenPolicy(), FakeKeys(site_keys["ed_jwk"], site_keys["rs_jwk"]))
    assert await t.buyer(signed(site_keys["ed"], "EdDSA", "ed-1")) == "ann"
    assert await t.buyer(signed(site_keys["rs"], "RS256", "rs-1", sub="bob")) == "bob"
    other, _ = ed25519_pair("ed-1")  # same kid, a key the site never published
    await refused(t, signed(other, "EdDSA", "ed-1", sub="eve"), "signature is invalid")
    await refused(t, signed(site_keys["ed"], "EdDSA", "ed-9", sub="eve"), "unknown")


async def test_hs256_signed_with_the_rsa_public_key_is_refused(site_keys: Any) -> None:
    """Algorithm confusion: the public key is public, so an HS256 token "signed" with
    it must never verify, under the RSA key's kid or any other."""
    t = tokens(BuyerTokenPolicy(hs256={"k": NEW}), FakeKeys(site_keys["rs_jwk"]))
    pem = (
        site_keys["rs"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = {"sub": "eve", "exp": int(now()) + 60}
    for kid in ("rs-1", "k"):
        forged = hand_signed({"alg": "HS256", "typ": "JWT", "kid": kid}, claims, pem)
        with pytest.raises(Unauthenticated):
            await t.buyer(forged)
    # An RS256 key never verifies anything but RS256, and ``none`` least of all.
    unsigned = f"{b64(json.dumps({'alg': 'none', 'kid': 'rs-1'}).encode())}."
    unsigned += f"{b64(json.dumps(claims).encode())}."
    await refused(t, unsigned, "algorithm does not match")


async def test_a_jwks_key_of_another_algorithm_is_not_accepted() -> None:
    hs_jwk = {"kty": "oct", "k": b64(NEW.encode()), "kid": "oct-1", "alg": "HS256"}
    t = tokens(BuyerTokenPolicy(), FakeKeys(hs_jwk))
    await refused(t, mint_jwt(NEW, "oct-1", "eve", 60, now()), "unknown")


async def test_v1_is_accepted_while_enabled_and_refused_when_disabled() -> None:
    token = mint_v1(OLD, "ann", 60, now())
    assert await tokens(BuyerTokenPolicy(v1_secret=OLD)).buyer(token) == "ann"
    await refused(tokens(BuyerTokenPolicy(v1_secret=None)), token, "no longer accepted")
    await refused(tokens(BuyerTokenPolicy(v1_secret=NEW)), token, "signature is invalid")


def test_policy_from_settings() -> None:
    plain = BuyerTokenPolicy.from_settings(Settings(buyer_token_secret=NEW))
    assert dict(plain.hs256) == {DEFAULT_KID: NEW} and plain.v1_secret == NEW
    keyed = BuyerTokenPolicy.from_settings(
        Settings(buyer_token_keys={"a": NEW, "b": OLD}, buyer_token_v1=False)
    )
    assert list(keyed.hs256) == ["a", "b"] and keyed.v1_secret is None
    jwks_only = BuyerTokenPolicy.from_settings(
        Settings(buyer_token_jwks_url="https://shop.example/jwks.json")
    )
    assert dict(jwks_only.hs256) == {}  # dropline holds no secret that mints JWTs
    assert jwks_only.v1_secret == DEV_BUYER_SECRET  # until v1 is turned off


def test_short_or_unnamed_hs256_keys_are_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="shorter than 32 bytes"):
        Settings(buyer_token_keys={"k": "short"})
    with pytest.raises(ValidationError, match="non-empty key id"):
        Settings(buyer_token_keys={"": NEW})


async def test_mint_uses_the_chosen_kid_and_refuses_without_a_secret() -> None:
    t = tokens(BuyerTokenPolicy(hs256={"a": NEW, "b": OLD}, mint_kid="b", audience="dl"))
    token = t.mint("ann", 60)
    assert jwt.get_unverified_header(token)["kid"] == "b"
    assert jwt.decode(token, OLD, algorithms=["HS256"], audience="dl")["sub"] == "ann"
    assert await t.buyer(token) == "ann"
    with pytest.raises(InvalidInput, match="no HS256 buyer token key"):
        tokens(BuyerTokenPolicy()).mint("ann")


def test_real_time_default() -> None:
    t = BuyerTokens(BuyerTokenPolicy(hs256={"k": NEW}))
    claims = jwt.decode(t.mint("ann", 60), NEW, algorithms=["HS256"])
    assert abs(claims["iat"] - time.time()) < 5

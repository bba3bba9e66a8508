"""Buyer tokens: which buyer a storefront request is for, signed by the creator's site.

A buyer token is a standard JWT (RFC 7519) verified with PyJWT. Its ``kid`` header
picks the key, and the key fixes the algorithm (a token's own ``alg`` only has to agree,
so ``none`` and an HS256 token "signed" with a public key are refused):

- ``HS256`` with a secret shared with the site: ``DROPLINE_BUYER_TOKEN_KEYS``, a JSON
  object kid → secret. During a rotation it lists the new and the previous secret, so
  tokens signed with either verify; a kid taken out of it no longer verifies.
- ``EdDSA`` or ``RS256`` with a public key the site publishes in a JWKS document
  (``DROPLINE_BUYER_TOKEN_JWKS_URL``): dropline holds nothing that can mint a token.

Claims: ``sub`` is the buyer id (1 to 120 characters), ``exp`` is required, and ``iss``
and ``aud`` must match when configured; ``exp``/``nbf``/``iat`` allow a small leeway for
clock skew. ``tiers`` (optional) lists the buyer's membership tiers on the creator's
site, e.g. ``["gold"]``: a drop's access windows admit buyers by it
(``domain/live/access.py``); anything but a list of tier names is refused (401
``tiers_claim_invalid``). ``iat`` (when the token was issued) is what a drop's
``token_max_age_s`` is checked against. See ``docs/audience.md`` for minting examples.

The ``v1`` format of dropline's own is still accepted while ``DROPLINE_BUYER_TOKEN_V1``
is true (deprecated, removed in the next release)::

    payload = base64url(json({"sub": buyer_id, "exp": unix_seconds}))
    token   = "v1." + payload + "." + base64url(hmac_sha256(secret, "v1." + payload))
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson
from jwt.exceptions import InvalidSubjectError

from dropline.config import Settings
from dropline.domain.errors import InvalidInput, TiersClaimInvalid, Unauthenticated
from dropline.domain.inputs import text_problem
from dropline.domain.live.access import token_tiers
from dropline.services.ports import SigningKeys

MAX_BUYER_ID = 120
#: The one HS256 key's id when only ``DROPLINE_BUYER_TOKEN_SECRET`` is set.
DEFAULT_KID = "default"
#: What a key from the site's JWKS may sign with.
ASYMMETRIC_ALGORITHMS = frozenset({"EdDSA", "RS256"})
#: Verified tokens remembered per process (each a few hundred bytes).
BUYER_CACHE = 100_000


# --------------------------------------------------------------------------- v1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _check_buyer_id(buyer_id: str) -> None:
    if not buyer_id or len(buyer_id) > MAX_BUYER_ID:
        raise InvalidInput(f"buyer id must be 1 to {MAX_BUYER_ID} characters")


def mint_v1(secret: str, buyer_id: str, ttl_s: int = 3600, now: float | None = None) -> str:
    """A token in the deprecated ``v1`` format, as a site that has not moved to JWT
    mints it."""
    _check_buyer_id(buyer_id)
    exp = int((now if now is not None else time.time()) + ttl_s)
    body = "v1." + _b64(json.dumps({"sub": buyer_id, "exp": exp}, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(sig)}"


def v1_claims(secret: str, token: str) -> tuple[object, object]:
    """``sub`` and ``exp`` of a well-formed v1 token with a valid signature (unchecked)."""
    try:
        version, payload, sig = token.split(".")
    except ValueError:
        raise Unauthenticated("malformed buyer token") from None
    expected = hmac.digest(secret.encode(), f"{version}.{payload}".encode(), "sha256")
    try:
        _unb64(sig)  # malformed base64 is a malformed token
        claims = orjson.loads(_unb64(payload))
    except ValueError:  # orjson.JSONDecodeError and binascii.Error are ValueErrors
        raise Unauthenticated("malformed buyer token") from None
    # The text is compared, not just the bytes: base64's spare low bits would otherwise
    # let several spellings of one signature pass.
    if version != "v1" or not hmac.compare_digest(_b64(expected), sig):
        raise Unauthenticated("buyer token signature is invalid")
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
        raise Unauthenticated("buyer token has no subject")
    return claims["sub"], claims.get("exp")


def check_claims(sub: object, exp: object, now: float) -> tuple[str, int]:
    """The buyer id and expiry of a v1 token that has not expired."""
    if not isinstance(exp, int) or exp < now:
        raise Unauthenticated("buyer token has expired")
    return _subject(sub), exp


def _subject(sub: object) -> str:
    """The buyer id: 1 to MAX_BUYER_ID characters of text the database can store (a NUL
    or a lone surrogate in a signed subject is still refused: domain/inputs.py)."""
    if not isinstance(sub, str) or not sub or len(sub) > MAX_BUYER_ID or text_problem(sub):
        raise Unauthenticated("buyer token subject is invalid")
    return sub


# --------------------------------------------------------------------------- JWT


def mint_jwt(
    secret: str,
    kid: str,
    buyer_id: str,
    ttl_s: int = 3600,
    now: float | None = None,
    *,
    issuer: str = "",
    audience: str = "",
    tiers: list[str] | None = None,
) -> str:
    """An HS256 buyer token, as the creator's site mints it with PyJWT; ``tiers`` the
    buyer's membership tiers (the claim is left out when None)."""
    _check_buyer_id(buyer_id)
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {"sub": buyer_id, "iat": issued, "exp": issued + ttl_s}
    if tiers is not None:
        claims["tiers"] = tiers
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})


@dataclass(frozen=True)
class BuyerIdentity:
    """Who a verified token names: the buyer id, their membership tiers (empty for a
    token without the claim, and every v1 token) and when it was issued (None: no
    ``iat``)."""

    buyer_id: str
    tiers: frozenset[str] = frozenset()
    issued_at: float | None = None


@dataclass(frozen=True)
class BuyerTokenPolicy:
    """What verifies a buyer token. ``hs256`` maps kid → shared secret (first: the one
    ``mint`` uses unless ``mint_kid``); ``v1_secret`` None refuses v1 tokens;
    ``recheck_s`` is how long a token verified with a JWKS key is trusted before its
    key is looked up again (a key the site withdrew stops verifying)."""

    hs256: Mapping[str, str] = field(default_factory=dict)
    mint_kid: str = ""
    issuer: str = ""
    audience: str = ""
    leeway_s: float = 30.0
    v1_secret: str | None = None
    recheck_s: float = 300.0

    @classmethod
    def from_settings(cls, s: Settings) -> BuyerTokenPolicy:
        """The policy of ``config.Settings``: with no keys and no JWKS, the one key
        ``default`` is ``buyer_token_secret`` (so a plain deployment works as before)."""
        hs256 = dict(s.buyer_token_keys)
        if not hs256 and not s.buyer_token_jwks_url:
            hs256 = {DEFAULT_KID: s.buyer_token_secret}
        return cls(
            hs256=hs256,
            mint_kid=s.buyer_token_kid,
            issuer=s.buyer_token_issuer,
            audience=s.buyer_token_audience,
            leeway_s=s.buyer_token_leeway_s,
            v1_secret=s.buyer_token_secret if s.buyer_token_v1 else None,
            recheck_s=s.buyer_token_jwks_refresh_s,
        )


_JWT_REFUSALS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "buyer token has expired"),
    (jwt.InvalidAudienceError, "buyer token audience is not accepted"),
    (jwt.InvalidIssuerError, "buyer token issuer is not accepted"),
    (jwt.MissingRequiredClaimError, "buyer token lacks a required claim"),
    (InvalidSubjectError, "buyer token subject is invalid"),
    (jwt.ImmatureSignatureError, "buyer token is not valid yet"),
    (jwt.InvalidAlgorithmError, "buyer token algorithm does not match its key"),
    (jwt.InvalidSignatureError, "buyer token signature is invalid"),
    (jwt.DecodeError, "malformed buyer token"),
)


def _refusal(exc: jwt.InvalidTokenError) -> Unauthenticated:
    for cls, detail in _JWT_REFUSALS:
        if isinstance(exc, cls):
            return Unauthenticated(detail)
    return Unauthenticated("buyer token is invalid")


class BuyerTokens:
    """Verifies buyer tokens and remembers the ones that verified.

    A buyer taps again and again with one token, so a verified token is kept (up to
    ``BUYER_CACHE`` of them, cleared when full) and only its expiry is checked again
    (against ``clock``; PyJWT checks a new token's times against the real time); a
    token verified with a JWKS key is verified again after ``recheck_s``. A bad token
    is verified, and refused, every time."""

    def __init__(
        self,
        policy: BuyerTokenPolicy,
        jwks: SigningKeys | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self.jwks = jwks
        self._now = clock
        self._options: dict[str, Any] = {
            "require": ["exp", "sub"]
            + (["iss"] if policy.issuer else [])
            + (["aud"] if policy.audience else [])
        }
        #: token → (buyer, expires at (leeway included), verify again at)
        self._verified: dict[str, tuple[BuyerIdentity, float, float]] = {}

    async def buyer(self, token: str | None) -> str:
        """The buyer id of a valid token; ``Unauthenticated`` otherwise (the detail
        says why), ``KeysUnavailable`` when the site's JWKS cannot be had."""
        return (await self.identity(token)).buyer_id

    async def identity(self, token: str | None) -> BuyerIdentity:
        """The buyer, tiers and issue time of a valid token (refusals as ``buyer``;
        a ``tiers`` claim that is not a list of tier names: ``TiersClaimInvalid``)."""
        if not token:
            raise Unauthenticated("a buyer token is required (X-Buyer-Token header)")
        now = self._now()
        hit = self._verified.get(token)
        if hit is not None:
            if hit[1] < now:
                raise Unauthenticated("buyer token has expired")
            if now < hit[2]:
                return hit[0]
        if token.startswith("v1."):
            buyer, expires, recheck = self._v1(token, now)
        else:
            buyer, expires, recheck = await self._jwt(token, now)
        if len(self._verified) >= BUYER_CACHE:
            self._verified.clear()
        self._verified[token] = (buyer, expires, recheck)
        return buyer

    def _v1(self, token: str, now: float) -> tuple[BuyerIdentity, float, float]:
        secret = self.policy.v1_secret
        if secret is None:
            raise Unauthenticated("v1 buyer tokens are no longer accepted; send a JWT")
        sub, exp = check_claims(*v1_claims(secret, token), now)
        return BuyerIdentity(sub), exp, exp

    async def _jwt(self, token: str, now: float) -> tuple[BuyerIdentity, float, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("malformed buyer token") from None
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("buyer token has no key id (kid header)")
        key: Any
        secret = self.policy.hs256.get(kid)
        if secret is not None:
            key, algorithms, recheck = secret, ["HS256"], float("inf")
        else:
            jwk = await self.jwks.key(kid) if self.jwks is not None else None
            if jwk is None or jwk.algorithm_name not in ASYMMETRIC_ALGORITHMS:
                raise Unauthenticated(f"buyer token key {kid[:40]!r} is unknown")
            key, algorithms, recheck = jwk, [jwk.algorithm_name], now + self.policy.recheck_s
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                options=self._options,  # type: ignore[arg-type]
                issuer=self.policy.issuer or None,
                audience=self.policy.audience or None,
                leeway=self.policy.leeway_s,
            )
        except jwt.InvalidTokenError as exc:
            raise _refusal(exc) from None
        exp = claims["exp"]
        if not isinstance(exp, int | float):
            raise Unauthenticated("buyer token has expired")
        expires = float(exp) + self.policy.leeway_s
        try:
            tiers = token_tiers(claims.get("tiers"))
        except ValueError as exc:
            raise TiersClaimInvalid(f"buyer token tiers claim is invalid: {exc}") from None
        iat = claims.get("iat")
        issued = float(iat) if isinstance(iat, int | float) else None
        identity = BuyerIdentity(_subject(claims["sub"]), tiers, issued)
        return identity, expires, min(expires, recheck)

    def mint(self, buyer_id: str, ttl_s: int = 3600, tiers: list[str] | None = None) -> str:
        """An HS256 token with ``mint_kid`` (else the first key), for testing and the
        demo; ``InvalidInput`` when dropline holds no HS256 key (JWKS only)."""
        kid = self.policy.mint_kid or next(iter(self.policy.hs256), "")
        secret = self.policy.hs256.get(kid)
        if secret is None:
            raise InvalidInput(
                "no HS256 buyer token key to mint with (DROPLINE_BUYER_TOKEN_KEYS / "
                "DROPLINE_BUYER_TOKEN_KID); with a JWKS, the creator's site mints tokens"
            )
        return mint_jwt(
            secret,
            kid,
            buyer_id,
            ttl_s,
            self._now(),
            issuer=self.policy.issuer,
            audience=self.policy.audience,
            tiers=tiers,
        )

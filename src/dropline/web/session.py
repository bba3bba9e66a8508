"""Signed session cookies and CSRF tokens for the web pages.

The cookie holds a small JSON claim set signed with HMAC-SHA256; nothing secret is in
it (the API key itself is never stored, only its id, name and scope). Every session,
even before login, carries a random CSRF token; every POST form must echo it, and the
comparison is constant-time. Logging in rotates the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from dataclasses import dataclass

COOKIE = "dropline_session"
SESSION_TTL_S = 12 * 3600


@dataclass(frozen=True)
class Session:
    csrf: str
    expires: int
    key_id: str = ""
    name: str = ""
    scope: str = ""
    # Unix seconds, floored to the millisecond (never later than the real moment, so a
    # "sign out everywhere" at that same moment still ends it).
    issued: float = 0.0

    @property
    def logged_in(self) -> bool:
        return bool(self.key_id)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive_secret(configured: str, buyer_secret: str) -> bytes:
    """The signing key: the configured one, else one derived from the buyer secret so a
    single-secret deployment still gets a distinct key per purpose."""
    if configured:
        return configured.encode()
    return hmac.new(buyer_secret.encode(), b"dropline-ui-session", hashlib.sha256).digest()


def new_session(
    key_id: str = "", name: str = "", scope: str = "", now: float | None = None
) -> Session:
    at = now if now is not None else time.time()
    return Session(
        secrets.token_urlsafe(24),
        int(at + SESSION_TTL_S),
        key_id,
        name,
        scope,
        math.floor(at * 1000) / 1000,
    )


def encode(secret: bytes, s: Session) -> str:
    body = _b64(
        json.dumps(
            {"c": s.csrf, "e": s.expires, "k": s.key_id, "n": s.name, "s": s.scope, "i": s.issued},
            separators=(",", ":"),
        ).encode()
    )
    sig = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    return f"{body}.{sig}"


def decode(secret: bytes, value: str | None, now: float | None = None) -> Session | None:
    """The session in a cookie value, or None if absent, forged, malformed or expired."""
    if not value or value.count(".") != 1:
        return None
    body, sig = value.split(".")
    expected = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    if not sig.isascii() or not hmac.compare_digest(expected, sig):  # str compare needs ASCII
        return None
    try:
        claims = json.loads(_unb64(body))
        s = Session(
            str(claims["c"]),
            int(claims["e"]),
            str(claims["k"]),
            str(claims["n"]),
            str(claims["s"]),
            float(claims.get("i", 0)),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if s.expires < (now if now is not None else time.time()):
        return None
    return s


def csrf_ok(session: Session | None, token: str | None) -> bool:
    return bool(session and token and hmac.compare_digest(session.csrf, token))

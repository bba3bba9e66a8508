"""Signed buyer links for pre-orders: the one-click ``cancel`` and ``consent`` links in
a pre-order's notices.

A link carries a token ``po1.<claims>.<signature>``: the claims (order id, action,
expiry) in URL-safe base64 and an HMAC-SHA256 over them with the shop's buyer-token
secret. The buyer acts on that one order without logging in; a token for one action
never authorises another, and it expires after ``LINK_TTL_S``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from dropline.domain.errors import InvalidToken
from dropline.services.ports import Clock

LINK_TTL_S = 90 * 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PreorderLinks:
    def __init__(self, secret: str, base_url: str, clock: Clock) -> None:
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.clock = clock

    def token(self, order_id: str, action: str, ttl_s: int = LINK_TTL_S) -> str:
        """A signed, expiring token that lets the buyer act on one order without
        logging in (the one-click link in a delay notice)."""
        body = _b64(
            json.dumps(
                {"o": order_id, "a": action, "exp": int(self.clock.now()) + ttl_s},
                separators=(",", ":"),
            ).encode()
        )
        sig = hmac.new(self.secret.encode(), f"po1.{body}".encode(), hashlib.sha256)
        return f"po1.{body}.{_b64(sig.digest())}"

    def link(self, order_id: str, action: str) -> str:
        return f"{self.base_url}/v1/preorder-links/{action}?token={self.token(order_id, action)}"

    def verify(self, token: str, action: str) -> str:
        """The order id a valid token for ``action`` names; ``InvalidToken`` otherwise."""
        try:
            version, body, sig = token.split(".")
            expected = hmac.new(
                self.secret.encode(), f"{version}.{body}".encode(), hashlib.sha256
            ).digest()
            _unb64(sig)  # malformed base64 is a malformed link
            # The text is compared: base64's spare bits would let several spellings pass.
            ok = version == "po1" and hmac.compare_digest(_b64(expected), sig)
            claims = json.loads(_unb64(body)) if ok else {}
        except (ValueError, TypeError):
            raise InvalidToken("the link is malformed") from None
        if not ok:
            raise InvalidToken("the link's signature is not valid")
        if claims.get("a") != action:
            raise InvalidToken("the link is for another action")
        if int(claims.get("exp", 0)) < self.clock.now():
            raise InvalidToken("the link has expired")
        return str(claims["o"])

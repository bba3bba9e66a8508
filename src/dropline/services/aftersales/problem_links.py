"""Signed buyer links to report a problem with a delivered order.

A token ``pb1.<claims>.<signature>`` names the order and its buyer and expires when the
order's return window closes; the HMAC-SHA256 uses the shop's buyer-token secret, as the
pre-order links do (``services.supply.preorder_links``). A token minted for one buyer
never acts for another, and a link opened after the window is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime

from dropline.domain.errors import InvalidToken
from dropline.services.ports import Clock

VERSION = "pb1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ProblemLinks:
    def __init__(self, secret: str, base_url: str, clock: Clock) -> None:
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.clock = clock

    def _sign(self, body: str) -> bytes:
        return hmac.new(self.secret.encode(), f"{VERSION}.{body}".encode(), hashlib.sha256).digest()

    def token(self, order_id: str, buyer_id: str, expires: datetime) -> str:
        """A token letting ``buyer_id`` report a problem with ``order_id`` until
        ``expires`` (the end of the return window)."""
        claims = {"o": order_id, "b": buyer_id, "exp": int(expires.timestamp())}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{VERSION}.{body}.{_b64(self._sign(body))}"

    def link(self, order_id: str, buyer_id: str, expires: datetime) -> str:
        token = self.token(order_id, buyer_id, expires)
        return f"{self.base_url}/ui/report-problem?token={token}"

    def verify(self, token: str) -> tuple[str, str]:
        """(order id, buyer id) of a valid, unexpired token; ``InvalidToken`` otherwise."""
        try:
            version, body, sig = token.split(".")
            _unb64(sig)  # malformed base64 is a malformed link
            # The text is compared: base64's spare bits would let several spellings pass.
            ok = version == VERSION and hmac.compare_digest(_b64(self._sign(body)), sig)
            claims = json.loads(_unb64(body)) if ok else {}
        except (ValueError, TypeError):
            raise InvalidToken("the link is malformed") from None
        if not ok:
            raise InvalidToken("the link's signature is not valid")
        if int(claims.get("exp", 0)) < self.clock.now():
            raise InvalidToken("the link has expired: the return window is closed")
        return str(claims["o"]), str(claims["b"])

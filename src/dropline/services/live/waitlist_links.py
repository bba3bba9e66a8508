"""Signed waitlist claim links, and the claim message that carries one: the link gives
the buyer the hold placed for them.

A link carries ``wl1.<claims>.<signature>``: the claims (entry id, the claim's nonce,
expiry) in URL-safe base64 and an HMAC-SHA256 over them with the shop's buyer-token
secret, as the pre-order links do (``services/supply/preorder_links.py``). The
signature's text is compared, not its decoded bytes (base64's spare bits would let
several spellings pass). The link alone proves nothing about the buyer: opening it
also needs that buyer's token, so a forwarded link is refused (``claim_not_yours``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dropline.domain.errors import ClaimLost, InvalidToken
from dropline.domain.readable_time import readable_utc
from dropline.services.fulfilment.messages import message_values
from dropline.services.ports import Clock

#: The ``messages.kind`` of a claim message: written with its own text, not a
#: ``MessageKind`` (those are order messages rendered from an order's templates).
CLAIM_MESSAGE_KIND = "waitlist_claim"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ClaimLinks:
    def __init__(self, secret: str, base_url: str, clock: Clock) -> None:
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.clock = clock

    def _sign(self, text: str) -> str:
        return _b64(hmac.new(self.secret.encode(), text.encode(), hashlib.sha256).digest())

    def token(self, entry_id: str, nonce: str, expires_at: float) -> str:
        """A token naming one claim (entry and nonce), valid until the claim lapses."""
        body = _b64(
            json.dumps(
                {"e": entry_id, "n": nonce, "exp": int(expires_at) + 1}, separators=(",", ":")
            ).encode()
        )
        return f"wl1.{body}.{self._sign(f'wl1.{body}')}"

    def link(self, drop_id: str, token: str) -> str:
        return f"{self.base_url}/v1/drops/{drop_id}/waitlist/claim?token={token}"

    def verify(self, token: str) -> tuple[str, str]:
        """(entry id, nonce) of a valid, unexpired token; ``InvalidToken`` when it is
        not one of ours, ``ClaimLost`` when the claim's window has passed."""
        try:
            version, body, sig = token.split(".")
            _unb64(sig)  # malformed base64 is a malformed link
            ok = version == "wl1" and hmac.compare_digest(self._sign(f"{version}.{body}"), sig)
            claims = json.loads(_unb64(body)) if ok else {}
        except (ValueError, TypeError):
            raise InvalidToken("the claim link is malformed") from None
        if not ok:
            raise InvalidToken("the claim link's signature is not valid")
        if not isinstance(claims, dict) or not {"e", "n", "exp"} <= claims.keys():
            raise InvalidToken("the claim link is malformed")
        if int(claims["exp"]) < self.clock.now():
            raise ClaimLost("the claim has lapsed; the unit went to the next in line")
        return str(claims["e"]), str(claims["n"])


def claim_message(
    entry: Mapping[str, Any], expires_at: float, link: str, shop_name: str, now: datetime
) -> dict[str, Any]:
    """The ``messages`` row telling the buyer a unit is held for them: one per entry (the
    entry id is its event id), ``skipped`` when the buyer left no email address (the
    claim still stands: their waitlist status shows it)."""
    until = readable_utc(datetime.fromtimestamp(expires_at, UTC))
    text = (
        f"Good news: a unit you waited for came back and it is held for you until "
        f"{until}.\n\nClaim it and check out: {link}\n\n"
        f"If you do not claim it in time it goes to the next buyer in line.\n"
        f"-- {shop_name}\n"
    )
    html = (
        f"<p>Good news: a unit you waited for came back and it is held for you until "
        f'{until}.</p><p><a href="{link}">Claim it and check out</a></p>'
        f"<p>If you do not claim it in time it goes to the next buyer in line.</p>"
    )
    return message_values(
        event_id=entry["id"],
        kind=CLAIM_MESSAGE_KIND,
        to=str(entry["email"] or ""),
        subject=f"A unit of {entry['sku_id']} is yours until {until}",
        text=text,
        html=html,
        now=now,
        no_address="no email address on the waitlist entry",
    )

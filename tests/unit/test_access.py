from __future__ import annotations

import pytest

from dropline.domain.errors import Forbidden, Unauthenticated
from dropline.services.platform.access import Principal, mint_buyer_token, verify_buyer_token

SECRET = "s3cret"


def test_buyer_token_round_trip() -> None:
    token = mint_buyer_token(SECRET, "buyer-42", ttl_s=60, now=1000)
    assert verify_buyer_token(SECRET, token, now=1030) == "buyer-42"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if not t.endswith("A") else "B"),  # signature
        lambda t: t[:-1] + chr(ord(t[-1]) ^ 1),  # another spelling of the same bytes, often
        lambda t: "v2" + t[2:],  # version
        lambda t: t.replace(".", "", 1),  # shape
        lambda t: "",
    ],
)
def test_forged_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    token = mint_buyer_token(SECRET, "buyer-42", ttl_s=60, now=1000)
    with pytest.raises(Unauthenticated):
        verify_buyer_token(SECRET, mangle(token), now=1001)


def test_expired_or_wrong_secret_refused() -> None:
    token = mint_buyer_token(SECRET, "b", ttl_s=60, now=1000)
    with pytest.raises(Unauthenticated):
        verify_buyer_token(SECRET, token, now=1061)
    with pytest.raises(Unauthenticated):
        verify_buyer_token("other", token, now=1001)


def test_scopes_are_ordered() -> None:
    ops = Principal("key_1", "ops", "ops")
    assert ops.allows("storefront") and ops.allows("ops") and not ops.allows("admin")
    with pytest.raises(Forbidden):
        Principal("key_2", "s", "storefront").require("ops")


async def test_verified_buyer_tokens_are_remembered_but_still_expire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dropline.services.platform import buyer_tokens as bt

    clock = [1000.0]
    tokens = bt.BuyerTokens(bt.BuyerTokenPolicy(v1_secret=SECRET), clock=lambda: clock[0])
    token = mint_buyer_token(SECRET, "buyer-7", ttl_s=60, now=1000)
    calls: list[str] = []
    real = bt.v1_claims

    def counting(secret: str, tok: str) -> tuple[object, object]:
        calls.append(tok)
        return real(secret, tok)

    monkeypatch.setattr(bt, "v1_claims", counting)
    assert await tokens.buyer(token) == "buyer-7"
    assert await tokens.buyer(token) == "buyer-7"
    assert len(calls) == 1  # the second tap did not recompute the HMAC
    clock[0] = 1061.0
    with pytest.raises(Unauthenticated, match="expired"):
        await tokens.buyer(token)
    bad = mint_buyer_token("other", "buyer-7", ttl_s=60, now=1000)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await tokens.buyer(bad)
    assert calls.count(bad) == 2  # refusals are never cached


def test_last_use_is_noted_at_most_once_a_minute_per_key() -> None:
    from dropline.services.platform.access import KeyUsage

    usage = KeyUsage(every_s=60)
    usage.seen("key_a", mono=0, wall=1000)
    usage.seen("key_a", mono=30, wall=1030)  # within the minute: not noted
    usage.seen("key_b", mono=30, wall=1030)
    assert usage.take() == {"key_a": 1000, "key_b": 1030}
    usage.seen("key_a", mono=59, wall=1059)
    assert usage.take() == {}
    usage.seen("key_a", mono=60, wall=1060)
    taken = usage.take()
    assert taken == {"key_a": 1060}
    usage.seen("key_b", mono=95, wall=1095)
    usage.put_back(taken | {"key_b": 1031})  # a failed write keeps the newer use
    assert usage.take() == {"key_a": 1060, "key_b": 1095}

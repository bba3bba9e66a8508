"""What checking a buyer token and an API key costs a hold, per request (no HTTP).

    .venv/bin/python -P bench/token_cost.py [N]

Times, in one process on an idle machine: a first verification of each kind of buyer
token (the deprecated v1 HMAC, an HS256 JWT, EdDSA and RS256 JWTs with their JWKS keys
already fetched), a verified token seen again (the hot path's case: a buyer taps with
the same token), and an API key already cached with its last use noted. The results go
in ``bench/notes.md`` by hand; nothing here is a test.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from dropline.services.platform import buyer_tokens as bt
from dropline.services.platform.access import AccessService, Principal, hash_key

SECRET = "bench-" + "s" * 40


class Keys:
    def __init__(self, jwks: dict[str, jwt.PyJWK]) -> None:
        self.jwks = jwks

    async def key(self, kid: str) -> jwt.PyJWK | None:
        return self.jwks.get(kid)


def site_key(kid: str, alg: str) -> tuple[Any, jwt.PyJWK]:
    if alg == "EdDSA":
        private: Any = ed25519.Ed25519PrivateKey.generate()
        public = jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return private, jwt.PyJWK.from_dict({**public, "kid": kid, "alg": alg})


async def per_call(n: int, fn: Callable[[int], Awaitable[object]]) -> float:
    """Microseconds per call, best of 3 runs of ``n`` calls."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i in range(n):
            await fn(i)
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best


async def main(n: int) -> None:
    ed, ed_jwk = site_key("ed", "EdDSA")
    rs, rs_jwk = site_key("rs", "RS256")
    policy = bt.BuyerTokenPolicy(hs256={"k": SECRET}, v1_secret=SECRET)
    exp = int(time.time()) + 3600
    tokens = {
        "v1 (HMAC, deprecated)": [bt.mint_v1(SECRET, f"b{i}", 3600) for i in range(n)],
        "JWT HS256": [bt.mint_jwt(SECRET, "k", f"b{i}", 3600) for i in range(n)],
        "JWT EdDSA (JWKS)": [
            jwt.encode({"sub": f"b{i}", "exp": exp}, ed, "EdDSA", {"kid": "ed"}) for i in range(n)
        ],
        "JWT RS256 (JWKS)": [
            jwt.encode({"sub": f"b{i}", "exp": exp}, rs, "RS256", {"kid": "rs"}) for i in range(n)
        ],
    }
    rows = []
    for name, batch in tokens.items():
        verifier = bt.BuyerTokens(policy, Keys({"ed": ed_jwk, "rs": rs_jwk}))

        async def first(i: int, v: bt.BuyerTokens = verifier, b: list[str] = batch) -> str:
            v._verified.clear()  # every call verifies
            return await v.buyer(b[i])

        cold = await per_call(n, first)
        hot = await per_call(n, lambda i, v=verifier, b=batch: v.buyer(b[0]))
        rows.append((name, len(batch[0]), cold, hot))
    print(f"{'buyer token':24} {'chars':>5} {'first µs':>9} {'again µs':>9}")
    for name, chars, cold, hot in rows:
        print(f"{name:24} {chars:5d} {cold:9.1f} {hot:9.2f}")

    access = AccessService(uow=None, tokens=bt.BuyerTokens(policy))  # type: ignore[arg-type]
    raw = "dlk_bench-key"
    access._cache[hash_key(raw)] = (time.monotonic(), Principal("key_1", "b", "storefront"), None)
    access.cache_s = access.unheard_cache_s = 3600
    key_hit = await per_call(n, lambda i: access.authenticate(raw))
    noted = access.usage.seen
    access.usage.seen = lambda *a: None  # type: ignore[method-assign]
    key_no_usage = await per_call(n, lambda i: access.authenticate(raw))
    access.usage.seen = noted  # type: ignore[method-assign]
    print(
        f"API key, cached:           {key_hit:6.2f} µs (without noting its last use:"
        f" {key_no_usage:.2f} µs)"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))

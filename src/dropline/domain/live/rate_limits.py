"""Rate limits of a drop: how often one buyer, or one client address, may try.

A script that taps a thousand times a second should not out-tap people. A drop may set,
per minute, how many holds and how many checkouts one buyer and one client address may
start; unset means unlimited. Each limit is a token bucket: it holds at most ``rate``
tokens (a minute's worth, so a person's few quick taps pass), refills at ``rate / 60``
per second, and every attempt takes one token. An attempt takes a token from each of
its buckets (the buyer's and the address's) or from none: when one is empty the attempt
is refused with the seconds until it has a token again (``Retry-After``).

The engines keep the buckets (in process memory, or in Redis inside the hold script,
so the limits hold across API processes); ``take`` is the one definition of the rule
(``engine/lua/_access.lua`` is its translation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from dropline.domain.errors import InvalidInput

#: Highest rate a drop may set (per minute), and the longest token age (a day).
MAX_RATE = 100_000
MAX_TOKEN_AGE_S = 86_400
MIN_TOKEN_AGE_S = 10

HOLDS = "h"
CHECKOUTS = "c"


@dataclass(frozen=True)
class RateLimits:
    """Per-minute limits (None: unlimited) and the oldest buyer token accepted."""

    holds_per_buyer: int | None = None
    holds_per_address: int | None = None
    checkouts_per_buyer: int | None = None
    checkouts_per_address: int | None = None
    token_max_age_s: int | None = None

    @cached_property
    def empty(self) -> bool:
        """No limit set. Kept after the first answer (frozen limits cannot change): it
        compares with a fresh ``RateLimits()``, which cost a hold about a microsecond."""
        return self == RateLimits()

    def rates(self, action: str) -> tuple[int | None, int | None]:
        """(per buyer, per address) for ``HOLDS`` or ``CHECKOUTS``."""
        if action == HOLDS:
            return self.holds_per_buyer, self.holds_per_address
        return self.checkouts_per_buyer, self.checkouts_per_address


def check_limits(limits: RateLimits) -> RateLimits:
    """The limits if each is within bounds, else ``InvalidInput`` naming the field."""
    for name in (
        "holds_per_buyer",
        "holds_per_address",
        "checkouts_per_buyer",
        "checkouts_per_address",
    ):
        v = getattr(limits, name)
        if v is not None and not 1 <= v <= MAX_RATE:
            raise InvalidInput(f"{name} must be between 1 and {MAX_RATE} per minute", field=name)
    age = limits.token_max_age_s
    if age is not None and not MIN_TOKEN_AGE_S <= age <= MAX_TOKEN_AGE_S:
        raise InvalidInput(
            f"token_max_age_s must be between {MIN_TOKEN_AGE_S} and {MAX_TOKEN_AGE_S}",
            field="token_max_age_s",
        )
    return limits


@dataclass(frozen=True)
class Bucket:
    """A bucket's state: ``tokens`` left as of ``at`` (epoch seconds)."""

    tokens: float
    at: float


def refill(bucket: Bucket | None, rate: int, now: float) -> float:
    """The tokens a bucket holds at ``now`` (a bucket never used is full)."""
    if bucket is None:
        return float(rate)
    return min(float(rate), bucket.tokens + max(0.0, now - bucket.at) * rate / 60.0)


def take(
    buckets: Sequence[tuple[Bucket | None, int]], now: float
) -> tuple[list[Bucket], None] | tuple[None, int]:
    """One attempt against ``(state, rate)`` buckets: their new states when each had a
    token (one taken from each), else ``(None, retry_after_s)``: whole seconds, at least
    one, until every bucket that was empty has a token again."""
    levels = [refill(b, rate, now) for b, rate in buckets]
    waits = [(1.0 - lv) * 60.0 / rate for lv, (_, rate) in zip(levels, buckets, strict=True)]
    wait = max((w for w in waits if w > 0), default=0.0)
    if wait > 0:
        return None, max(1, math.ceil(wait))
    return [Bucket(lv - 1.0, now) for lv in levels], None


def token_too_old(issued_at: float | None, max_age_s: int | None, now: float) -> bool:
    """Whether a token issued at ``issued_at`` is past the drop's max age. A token with
    no ``iat`` counts as too old when the drop sets an age: its age cannot be known."""
    if max_age_s is None:
        return False
    return issued_at is None or now - issued_at > max_age_s

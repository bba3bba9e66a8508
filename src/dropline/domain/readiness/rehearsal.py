"""The dress rehearsal's rules: its stages in order, what a stage's outcome may be,
which drops may be rehearsed, the test payment methods it pays with, and its timings.

A rehearsal runs the whole line on a copy of the drop with a dummy SKU, through the
configured real parts in test mode, and passes when no stage fails (a stage that has
nothing to exercise, such as the hand-off without a warehouse endpoint, is skipped).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from dropline.domain.errors import Conflict, InvalidInput
from dropline.domain.live.drops import Drop, DropStatus


class Stage(StrEnum):
    SETUP = "setup"  # the rehearsal copy of the drop, its dummy SKU and stock
    HOLDS = "holds"  # a burst of simulated buyers, one more than there are units
    PAYMENTS = "payments"  # test payments through the configured provider
    DECLINE = "decline"  # a declined card, then the buyer pays with another
    THREE_D_SECURE = "three_d_secure"  # a card that needs 3-D Secure
    HAND_OFF = "hand_off"  # every paid order to every warehouse endpoint, flagged test
    CANCELLATION = "cancellation"  # one order cancelled and refunded
    TRACKING = "tracking"  # tracking back from the warehouse, or simulated
    RETURN = "return"  # one shipped order returned and refunded
    REPORT = "report"  # the copy's post-stream report balances
    CLEANUP = "cleanup"  # the copy ended, its stock written off, nothing left behind


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class StageResult:
    stage: Stage
    status: Outcome
    detail: str
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage.value,
            "status": self.status.value,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


def verdict(results: Iterable[StageResult]) -> str:
    """``passed`` when stages ran and none failed, else ``failed``."""
    results = list(results)
    ok = bool(results) and all(r.status is not Outcome.FAIL for r in results)
    return "passed" if ok else "failed"


def first_failure(results: Iterable[StageResult]) -> str:
    return next((r.stage.value for r in results if r.status is Outcome.FAIL), "")


def check_rehearsable(drop: Drop) -> None:
    """A rehearsal copies a drop that has not gone live: never a live, paused or ended
    drop (its buyers are real), nor a rehearsal's own copy."""
    if drop.rehearsal_of is not None:
        raise Conflict("this drop is a rehearsal copy; rehearse the drop it copies")
    if drop.status not in (DropStatus.DRAFT, DropStatus.SCHEDULED):
        raise Conflict(
            f"the drop is {drop.status}: only a draft or scheduled drop is rehearsed "
            "(`dropline simulate` drives load on a live one)",
            status=drop.status.value,
        )


# What a rehearsal (and `dropline simulate`) pays with: Stripe's test-mode payment
# methods, which the built-in sandbox also takes. Never raw card numbers.
DEFAULT_METHODS: Mapping[str, str] = {
    "ok": "pm_card_visa",
    "decline": "pm_card_chargeDeclined",
    "three_d_secure": "pm_card_threeDSecure2Required",
}
_CARD_NUMBER = re.compile(r"^[\d ]{12,23}$")


def rehearsal_methods(overrides: Mapping[str, str]) -> dict[str, str]:
    """The test payment methods by role, ``overrides`` (from settings) over the
    defaults. A raw card number is refused: test mode has payment method ids."""
    unknown = sorted(set(overrides) - set(DEFAULT_METHODS))
    if unknown:
        raise InvalidInput(
            f"unknown test payment method role {unknown[0]!r}; use ok, decline, three_d_secure"
        )
    out = {**DEFAULT_METHODS, **{k: v.strip() for k, v in overrides.items()}}
    for role, pm in out.items():
        if not pm or len(pm) > 80 or _CARD_NUMBER.match(pm):
            raise InvalidInput(
                f"the {role} test payment method must be a payment method id "
                "(e.g. pm_card_visa), not a card number"
            )
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency(name: str, values_ms: Sequence[float]) -> dict[str, float]:
    """``{name_p50_ms, name_p99_ms}`` rounded to 0.1 ms."""
    return {
        f"{name}_p50_ms": round(percentile(values_ms, 50), 1),
        f"{name}_p99_ms": round(percentile(values_ms, 99), 1),
    }

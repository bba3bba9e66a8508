"""Access windows and rate limits of a drop (ops): who may buy from when, how often.

The engine enforces them inside every hold (and checkout), so a direct API call cannot
go around a window; these routes only set and show them (``services/live/access_windows``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field, StrictInt

from dropline.api.deps import ContainerDep, Ops
from dropline.api.fields import Rfc3339
from dropline.api.openapi import errors
from dropline.api.strict import Strict
from dropline.domain.live.access import MAX_TIERS, MAX_WINDOWS, AccessWindow
from dropline.domain.live.rate_limits import MAX_RATE, MAX_TOKEN_AGE_S, MIN_TOKEN_AGE_S, RateLimits

router = APIRouter(prefix="/v1/drops", tags=["drops"], responses=errors(503))

Units = Annotated[StrictInt, Field(ge=0, le=10_000_000)]
Rate = Annotated[StrictInt, Field(ge=1, le=MAX_RATE, description="per minute")]


class WindowIn(Strict):
    name: str = Field("", max_length=80, description="shown to buyers, e.g. Gold members")
    starts_at: Rfc3339 = Field(description="RFC 3339; before the next window's start")
    tiers: list[str] = Field(
        default_factory=list,
        max_length=MAX_TIERS,
        description="tiers admitted (from the buyer token's `tiers` claim); `*` is any "
        "member; empty is the public. Refused with `window_tier_invalid` if not a tier name",
    )
    allocation: dict[str, Units] | None = Field(
        None,
        description="units per SKU id this window adds (a SKU not named: none); null "
        "releases every unit. Over the offer: `window_allocation_exceeds_offer`",
    )

    def window(self) -> AccessWindow:
        at = datetime.fromisoformat(self.starts_at.replace("Z", "+00:00")).timestamp()
        return AccessWindow(at, tuple(self.tiers), self.allocation, self.name)


class WindowsIn(Strict):
    windows: list[WindowIn] = Field(
        max_length=MAX_WINDOWS,
        description="in order of opening (else `window_order`); [] removes every window",
    )


class LimitsIn(Strict):
    holds_per_buyer: Rate | None = None
    holds_per_address: Rate | None = None
    checkouts_per_buyer: Rate | None = None
    checkouts_per_address: Rate | None = None
    token_max_age_s: Annotated[StrictInt, Field(ge=MIN_TOKEN_AGE_S, le=MAX_TOKEN_AGE_S)] | None = (
        Field(None, description="a buyer token issued (`iat`) longer ago is refused")
    )


@router.get("/{drop_id}/access")
async def get_access(drop_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """The drop's windows (which have opened), the next opening, its rate limits and
    the refusals the engine counted (``window_closed``, ``rate_limited``, ...)."""
    return await c.access_windows.stats(drop_id)


@router.put("/{drop_id}/access/windows")
async def put_windows(drop_id: str, body: WindowsIn, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """Replace the drop's access windows; on a live drop they apply to the next hold.
    Refusals (422): ``window_order``, ``window_tier_invalid``,
    ``window_allocation_exceeds_offer``; 409 once the drop has ended."""
    await c.access_windows.set_windows(drop_id, [w.window() for w in body.windows])
    return await c.access_windows.stats(drop_id)


@router.put("/{drop_id}/access/limits")
async def put_limits(drop_id: str, body: LimitsIn, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """Replace the drop's rate limits (per minute, per buyer and per client address,
    for holds and checkouts; null: unlimited) and its buyer-token max age."""
    await c.access_windows.set_limits(drop_id, RateLimits(**body.model_dump()))
    return await c.access_windows.stats(drop_id)

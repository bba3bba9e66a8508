"""Access windows and rate limits of a drop: set them, read them, show them.

The rules themselves are ``domain/live/access.py`` and ``domain/live/rate_limits.py``;
the reservation engine enforces them inside the hold (and the checkout's rate check),
so this service only keeps them: validated and stored in the drop's transaction, then
handed to the engine when the drop is in it (a rebuild reads them from the database,
so an engine that lost the drop gets them back with it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from dropline.domain.errors import Conflict, DroplineError, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.live.access import (
    AccessPolicy,
    AccessWindow,
    add_units,
    check_windows,
    next_start,
    restock_window,
)
from dropline.domain.live.drops import ENGINE_STATES, DropStatus
from dropline.domain.live.holds import Hold
from dropline.domain.live.rate_limits import CHECKOUTS, RateLimits, check_limits
from dropline.domain.live.window_figures import current_index
from dropline.services.live.drops import DropService
from dropline.services.platform.metrics import metrics
from dropline.services.ports import Clock, DropNotLoaded, StockEngine
from dropline.services.serialize import rfc3339
from dropline.store.uow import UowFactory


def window_dict(w: AccessWindow) -> dict[str, Any]:
    return {
        "name": w.name,
        "starts_at": rfc3339(w.starts_at),
        "tiers": list(w.tiers),
        "public": w.public,
        "allocation": None if w.allocation is None else dict(w.allocation),
    }


def limits_dict(lim: RateLimits) -> dict[str, Any]:
    return {
        "holds_per_buyer": lim.holds_per_buyer,
        "holds_per_address": lim.holds_per_address,
        "checkouts_per_buyer": lim.checkouts_per_buyer,
        "checkouts_per_address": lim.checkouts_per_address,
        "token_max_age_s": lim.token_max_age_s,
    }


class AccessWindowService:
    def __init__(
        self, uow: UowFactory, engine: StockEngine, drops: DropService, clock: Clock
    ) -> None:
        self.uow = uow
        self.engine = engine
        self.drops = drops
        self.clock = clock

    async def get(self, drop_id: str) -> AccessPolicy:
        """The drop's rules (``NotFound`` for an unknown drop)."""
        async with self.uow(readonly=True) as uow:
            if await uow.drops.get(drop_id) is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            return await uow.drop_access.get(drop_id)

    async def set_windows(self, drop_id: str, windows: list[AccessWindow]) -> AccessPolicy:
        """Replace the drop's windows (an empty list: no windows, everyone may buy),
        checked against its offers (``check_windows``)."""
        return await self._change(drop_id, windows=windows)

    async def set_limits(self, drop_id: str, limits: RateLimits) -> AccessPolicy:
        """Replace the drop's rate limits and token max age (``check_limits``)."""
        return await self._change(drop_id, limits=check_limits(limits))

    async def _change(
        self,
        drop_id: str,
        *,
        windows: list[AccessWindow] | None = None,
        limits: RateLimits | None = None,
        edit: Callable[[tuple[AccessWindow, ...]], list[AccessWindow] | None] | None = None,
    ) -> AccessPolicy:
        """Store the new rules under the drop's row lock; ``edit`` computes the windows
        from the stored ones inside that lock (None: nothing to change), so two edits
        never overwrite each other."""
        async with self.uow() as uow:
            drop = await uow.drops.get(drop_id, lock=True)
            if drop is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            if drop.status is DropStatus.ENDED:
                raise Conflict("the drop has ended; its access rules are final", drop_id=drop_id)
            policy = await uow.drop_access.get(drop_id)
            if edit is not None:
                windows = edit(policy.windows)
                if windows is None:
                    return policy
            if windows is not None:
                offers = await uow.drops.offers(drop_id)
                checked = check_windows(windows, {s: o.offered for s, o in offers.items()})
                policy = replace(policy, windows=checked)
            if limits is not None:
                policy = replace(policy, limits=limits)
            await uow.drop_access.put(drop_id, policy)
            uow.record(
                DomainEvent(
                    "drop.access_changed",
                    "drop",
                    drop_id,
                    drop.version,
                    {
                        "windows": [window_dict(w) for w in policy.windows],
                        "limits": limits_dict(policy.limits),
                    },
                )
            )
            await uow.commit()
        if drop.status in ENGINE_STATES:
            try:
                await self.engine.set_access(drop_id, policy)
            except DropNotLoaded:
                await self.drops.rebuild(drop_id)  # reads the rules just stored
        return policy

    async def add_restock(
        self, drop_id: str, sku_id: str, quantity: int, at: float
    ) -> AccessWindow | None:
        """Add a restock wave's units (already added to the offer) to the allocation of
        the window open at the wave's time ``at`` (``access.restock_window``), so the
        window they arrive in may sell them; the window, or None when no allocation
        needed to change. The windows are stored and handed to the engine as
        ``set_windows`` does, under the drop's row lock."""
        added: list[AccessWindow] = []

        def edit(windows: tuple[AccessWindow, ...]) -> list[AccessWindow] | None:
            i = restock_window(windows, at)
            if i is None:
                return None
            out = list(windows)
            out[i] = add_units(windows[i], sku_id, quantity)
            added.append(out[i])
            return out

        await self._change(drop_id, edit=edit)
        return added[0] if added else None

    async def check_checkout(
        self, hold_id: str, buyer_id: str, client: str, issued_at: float | None
    ) -> Hold | None:
        """A checkout attempt for the hold against its drop's token age and checkout
        rate limits, in the engine (``RateLimited``, ``TokenTooOld``). Nothing is
        checked when the hold or its drop is gone from the engine: the checkout itself
        then refuses or recovers as it always did. Returns the hold as read (None when
        gone), for ``CheckoutService.start(hold=...)``: one engine read per checkout."""
        hold = await self.engine.get_hold(hold_id)
        if hold is None:
            return None
        try:
            await self.engine.rate_check(
                hold.drop_id, CHECKOUTS, buyer_id, client, issued_at, self.clock.now()
            )
        except DropNotLoaded:
            return hold
        except DroplineError as exc:
            metrics().access_refused.labels("checkout", exc.code).inc()
            raise
        return hold

    async def public(self, drop_id: str) -> dict[str, Any]:
        """What the public view shows: the windows, which have opened, which one is
        open now (``current``: the latest opened; ``current_window`` its index, None
        before the first opens) and when the next one opens."""
        return self.public_of(await self.get(drop_id))

    def public_of(self, policy: AccessPolicy) -> dict[str, Any]:
        """``public`` of rules already read."""
        now = self.clock.now()
        cur = current_index(policy.windows, now)
        return {
            "windows": [
                window_dict(w) | {"open": w.starts_at <= now, "current": i == cur}
                for i, w in enumerate(policy.windows)
            ],
            "current_window": cur,
            "next_window_at": rfc3339(next_start(policy.windows, now)),
        }

    async def stats(self, drop_id: str) -> dict[str, Any]:
        """The monitor's access panel: the rules, the window open now, the next window
        and the refusals the engine counted by code."""
        policy = await self.get(drop_id)
        now = self.clock.now()
        cur = current_index(policy.windows, now)
        return {
            "windows": [
                window_dict(w) | {"open": w.starts_at <= now, "current": i == cur}
                for i, w in enumerate(policy.windows)
            ],
            "current_window": cur,
            "next_window_at": rfc3339(next_start(policy.windows, now)),
            "limits": limits_dict(policy.limits),
            "refusals": await self.engine.access_stats(drop_id),
        }

"""A drop's access rules (windows and rate limits): read and replaced whole."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from dropline.domain.live.access import AccessPolicy, AccessWindow
from dropline.domain.live.rate_limits import RateLimits
from dropline.store.base import Repository
from dropline.store.live.access_tables import drop_access

_LIMITS = (
    "holds_per_buyer",
    "holds_per_address",
    "checkouts_per_buyer",
    "checkouts_per_address",
    "token_max_age_s",
)


def _window(raw: dict[str, Any]) -> AccessWindow:
    alloc = raw.get("allocation")
    return AccessWindow(
        float(raw["starts_at"]),
        tuple(raw.get("tiers") or ()),
        None if alloc is None else {str(k): int(v) for k, v in alloc.items()},
        str(raw.get("name") or ""),
    )


class DropAccessRepository(Repository):
    async def get(self, drop_id: str) -> AccessPolicy:
        """The drop's rules; the default (everyone, no limits) when it has none."""
        row = (
            await self.conn.execute(select(drop_access).where(drop_access.c.drop_id == drop_id))
        ).first()
        if row is None:
            return AccessPolicy()
        m = row._mapping
        return AccessPolicy(
            tuple(_window(w) for w in m["windows"]),
            RateLimits(**{k: m[k] for k in _LIMITS}),
        )

    async def put(self, drop_id: str, policy: AccessPolicy) -> None:
        """Replace the drop's rules (an empty policy deletes its row)."""
        await self.conn.execute(delete(drop_access).where(drop_access.c.drop_id == drop_id))
        if policy.empty:
            return
        windows = [
            {
                "name": w.name,
                "starts_at": w.starts_at,
                "tiers": list(w.tiers),
                "allocation": None if w.allocation is None else dict(w.allocation),
            }
            for w in policy.windows
        ]
        limits = {k: getattr(policy.limits, k) for k in _LIMITS}
        await self.conn.execute(
            drop_access.insert().values(
                drop_id=drop_id, windows=windows, updated_at=self.now(), **limits
            )
        )

"""Reservation engine adapters (the fast layer of stock control).

``create_engine`` is the one place that turns a configured URL into a ``StockEngine``:
``None`` or ``"memory"`` gives the in-process ``MemoryEngine``; ``redis://`` and
``rediss://`` give a ``RedisEngine`` (imported lazily so the embedded default does not
load the Redis client).
"""

from __future__ import annotations

from dropline.engine.memory import MemoryEngine
from dropline.services.ports import StockEngine

__all__ = ["MemoryEngine", "create_engine"]


def create_engine(url: str | None) -> StockEngine:
    """The engine for ``url``; ``ValueError`` for a scheme no backend understands."""
    if url is None or url == "memory":
        return MemoryEngine()
    if url.startswith(("redis://", "rediss://")):
        from dropline.engine.redis_engine import RedisEngine

        return RedisEngine(url)
    raise ValueError(f"unknown reservation engine URL {url!r} (use 'memory' or redis://...)")

"""Reservation engine adapters (the fast layer of stock control).

``create_engine`` is the one place that turns a configured URL into a ``StockEngine``:
``None`` or ``"memory"`` gives the in-process ``MemoryEngine``; ``redis://`` and
``rediss://`` give a ``RedisEngine`` on one server, ``redis+cluster://host:port[,...]``
(``rediss+cluster://``) one on a Redis Cluster (seed nodes). The Redis engine is
imported lazily so the embedded default does not load the Redis client.
"""

from __future__ import annotations

from dropline.engine.memory import MemoryEngine
from dropline.engine.sold_out_gate import DEFAULT_WINDOW_S
from dropline.services.ports import StockEngine

__all__ = ["MemoryEngine", "create_engine"]


def create_engine(url: str | None, *, sold_out_window_s: float = DEFAULT_WINDOW_S) -> StockEngine:
    """The engine for ``url``; ``ValueError`` for a scheme no backend understands.

    ``sold_out_window_s`` is the Redis engine's in-process sold-out window
    (``engine/sold_out_gate.py``); the in-process engine needs none, it knows at once."""
    if url is None or url == "memory":
        return MemoryEngine()
    if url.startswith(("redis://", "rediss://", "redis+cluster://", "rediss+cluster://")):
        from dropline.engine.redis_engine import RedisEngine

        return RedisEngine(url, sold_out_window_s=sold_out_window_s)
    raise ValueError(
        f"unknown reservation engine URL {url!r} (use 'memory', redis://... or redis+cluster://...)"
    )

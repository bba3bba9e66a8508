"""Process-level tuning of a server process: Python's cyclic garbage collector.

A live drop keeps many long-lived objects (every active hold, its heap entries, the drop
catalog) and allocates a few short-lived ones per request. With Python's default
thresholds a young-generation collection runs every 700 net allocations, and the older
generations are re-scanned again and again although almost nothing in them is garbage:
with 100k+ active holds that is a visible share of the CPU and of the p99. Once the
server has started, the objects it built (the app, the routes, the loaded drops) are
frozen out of collection and the young generation is collected less often. Reference
counting still frees almost everything at once; only cycles wait a little longer.

Later, as holds pile up, the background job ``freeze_long_lived``
(``services/platform/background.py``) freezes again whenever a full collection has become slow.
"""

from __future__ import annotations

import gc


def tune_gc(gen0: int) -> None:
    """Freeze what exists now and collect the young generation every ``gen0`` net
    allocations (0 leaves Python's defaults alone)."""
    if gen0 <= 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0, gen1, gen2)

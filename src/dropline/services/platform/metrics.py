"""Prometheus metrics of one process, through the official ``prometheus-client``.

The instruments are made on first use (``metrics()``), never at import:
``prometheus-client`` picks its storage when it is first imported, in-process or the
multi-process mode's memory-mapped files under ``PROMETHEUS_MULTIPROC_DIR``, which
``dropline serve`` and ``dropline worker`` set before the app starts (a temporary
directory per run unless given). ``/metrics`` (``api/routers/platform/metrics.py``) then
adds up every process of the server. ``DROPLINE_METRICS=false`` gives the no-op set
(what the benchmark compares against; ``bench/notes.md``).

Services keep the instruments they use from construction. In the multi-process mode
every ``inc`` or ``observe`` writes to a memory-mapped file under a lock (2-5 µs each
here), so the hold path records into ``Tally`` and ``Timings``: plain in-process sums,
written into the shared instruments at most every ``FLUSH_S`` by the recording call
that finds the time has come, by the app's flush loop, and by ``/metrics`` before it
answers. A hold then costs well under a microsecond of metrics (``bench/notes.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

FLUSH_S = 0.5

#: Seconds: holds and engine calls are sub-millisecond to tens of ms; checkouts include
#: the card processor, up to seconds.
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
SLOW_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _Null:
    """An instrument that records nothing (``DROPLINE_METRICS=false``)."""

    def labels(self, *args: Any, **kwargs: Any) -> _Null:
        return self

    def inc(self, amount: float = 1) -> None:
        return None

    def observe(self, amount: float) -> None:
        return None

    def set(self, value: float) -> None:
        return None


class Metrics:
    """Every instrument dropline records (names in ``docs/deploy.md``)."""

    def tally(self, child: Any) -> Any:
        """``child`` (a counter, labelled) counted in-process: see ``Tally``."""
        return Tally(child) if self.enabled else child

    def tallies(self, child_of: Callable[[str], Any]) -> Tallies:
        """A labelled counter counted in-process, one ``Tally`` per label value made on
        first use: ``child_of(value)`` is the counter's child (``counter.labels``)."""
        return Tallies(self.tally, child_of)

    def timings(self, hist: Any, bounds: tuple[float, ...] = FAST_BUCKETS) -> Any:
        """``hist`` (a histogram, labelled) observed in-process: see ``Timings``."""
        return Timings(hist, bounds) if self.enabled else hist

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        if not enabled:
            null: Any = _Null()
            for name in (
                "holds_placed",
                "holds_refused",
                "access_refused",
                "hold_seconds",
                "engine_seconds",
                "checkouts",
                "checkout_seconds",
                "orders",
                "refunds",
                "webhook_deliveries",
                "outbox_lag",
                "drain_lag",
                "job_runs",
                "job_failures",
                "db_pool",
            ):
                setattr(self, name, null)
            return
        from prometheus_client import Counter, Gauge, Histogram

        self.holds_placed = Counter("dropline_holds_placed", "Holds placed")
        self.holds_refused = Counter(
            "dropline_holds_refused", "Holds refused, by problem code", ["code"]
        )
        self.access_refused = Counter(
            "dropline_access_refused",
            "Holds and checkouts refused by a drop's access rules (windows, rate limits, "
            "token age), by action and problem code",
            ["action", "code"],
        )
        self.hold_seconds = Histogram(
            "dropline_hold_seconds", "Time to place or refuse a hold", buckets=FAST_BUCKETS
        )
        self.engine_seconds = Histogram(
            "dropline_engine_seconds",
            "Reservation engine round trips, by operation",
            ["op"],
            buckets=FAST_BUCKETS,
        )
        self.checkouts = Counter("dropline_checkouts", "Checkouts started, by outcome", ["outcome"])
        self.checkout_seconds = Histogram(
            "dropline_checkout_seconds",
            "Time to answer a checkout (payment included)",
            buckets=SLOW_BUCKETS,
        )
        self.orders = Counter("dropline_orders", "Paid orders written")
        self.refunds = Counter("dropline_refunds", "Refunds sent to the card processor", ["why"])
        self.webhook_deliveries = Counter(
            "dropline_webhook_deliveries", "Webhook delivery attempts, by result", ["status"]
        )
        self.outbox_lag = Gauge(
            "dropline_outbox_lag_seconds",
            "Age of the oldest outbox event not yet fanned out to webhooks",
            multiprocess_mode="max",
        )
        self.drain_lag = Gauge(
            "dropline_hold_event_drain_lag_seconds",
            "Age of the oldest hold event waiting in the engine's journal",
            multiprocess_mode="max",
        )
        self.job_runs = Counter("dropline_job_runs", "Background job passes", ["job"])
        self.job_failures = Counter(
            "dropline_job_failures", "Background job passes that failed", ["job"]
        )
        self.db_pool = Gauge(
            "dropline_db_pool_connections",
            "Database pool connections by state, per process",
            ["state"],
            multiprocess_mode="liveall",
        )


class _Batched:
    """Something that holds in-process sums until ``flush``."""

    def flush(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


_BATCHES: list[_Batched] = []
_last_flush = [time.monotonic()]


def flush() -> None:
    """Write every in-process sum into the shared instruments (and start a new
    interval)."""
    _last_flush[0] = time.monotonic()
    for b in _BATCHES:
        b.flush()


async def flush_every(stop: asyncio.Event, interval_s: float = 1.0) -> None:
    """Flush until ``stop`` is set, and once more then: a process that went quiet still
    shows its last requests (the app runs this in every server process)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
        flush()


def _due() -> None:
    if time.monotonic() - _last_flush[0] >= FLUSH_S:
        flush()


class Tally(_Batched):
    """A counter child counted in-process and flushed in bulk (``child.inc(n)``)."""

    __slots__ = ("_child", "_n")

    def __init__(self, child: Any) -> None:
        self._child = child
        self._n = 0
        _BATCHES.append(self)

    def inc(self) -> None:
        self._n += 1
        _due()

    def flush(self) -> None:
        n, self._n = self._n, 0
        if n:
            self._child.inc(n)


class Tallies:
    """``Metrics.tallies``: ``tallies[value].inc()`` counts under that label value.
    ``tally`` makes the in-process counter of a child (``Metrics.tally``)."""

    __slots__ = ("_child_of", "_made", "_tally")

    def __init__(self, tally: Callable[[Any], Any], child_of: Callable[[str], Any]) -> None:
        self._tally = tally
        self._child_of = child_of
        self._made: dict[str, Any] = {}

    def __getitem__(self, value: str) -> Any:
        made = self._made.get(value)
        if made is None:
            made = self._made[value] = self._tally(self._child_of(value))
        return made


class Timings(_Batched):
    """A histogram (child) observed in-process: per-bucket counts and the sum, added to
    the histogram's own values on flush (what ``observe`` does one at a time). Falls
    back to one ``observe`` per value if the client's internals ever change."""

    def __init__(self, hist: Any, bounds: tuple[float, ...]) -> None:
        self._hist = hist
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._values: list[float] = []
        self._bulk = isinstance(getattr(hist, "_buckets", None), list) and hasattr(hist, "_sum")
        _BATCHES.append(self)

    def observe(self, value: float) -> None:
        if self._bulk:
            self._counts[bisect_left(self._bounds, value)] += 1
            self._sum += value
        else:
            self._values.append(value)
        _due()

    def flush(self) -> None:
        if not self._bulk:
            values, self._values = self._values, []
            for v in values:
                self._hist.observe(v)
            return
        counts, self._counts = self._counts, [0] * len(self._counts)
        total, self._sum = self._sum, 0.0
        if not any(counts):
            return
        buckets = self._hist._buckets
        for i, n in enumerate(counts):
            if n:
                buckets[i].inc(n)
        self._hist._sum.inc(total)


_real: Metrics | None = None
_NULL = Metrics(False)
_enabled = True


def metrics() -> Metrics:
    """This process's instruments: the real ones (made once, on the first call), or
    the no-op set when turned off."""
    global _real
    if not _enabled:
        return _NULL
    if _real is None:
        _real = Metrics(True)
    return _real


def configure(enabled: bool) -> Metrics:
    """Turn this process's instruments on or off (``bootstrap`` applies
    ``DROPLINE_METRICS`` before it builds the services, which keep what they get)."""
    global _enabled
    _enabled = enabled
    return metrics()

"""Background work that keeps the system true while nobody is looking.

- expire holds whose time has come (their units return to the drop);
- store the engine's hold events as pages (``services/live/hold_journal.py``);
- finish checkouts a crash left half-way;
- fan new outbox events out to webhook endpoints and deliver them (with retries);
- send queued buyer messages;
- open scheduled drops at their start and end them at their end
  (``services/live/schedule.py``);
- freeze long-lived objects out of the garbage collector's reach once a full
  collection has become slow (``freeze_long_lived``).

Each job is one idempotent pass, so any number of workers (or the server's own
in-process loop) may run them; ``run_forever`` repeats them on an interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable

from dropline.domain.ids import new_id
from dropline.services.fulfilment.messages import MessageService
from dropline.services.fulfilment.webhooks import WebhookService
from dropline.services.live.checkout import CheckoutService
from dropline.services.live.hold_journal import drain_hold_events
from dropline.services.live.schedule import DropSchedule
from dropline.services.platform.metrics import metrics
from dropline.services.ports import Clock, StockEngine
from dropline.store.uow import UowFactory

log = logging.getLogger(__name__)


async def expire_holds(engine: StockEngine, clock: Clock, batch: int = 250) -> int:
    """Expire every due hold; returns how many. Yields to the event loop between
    batches (see ``drain_hold_events``)."""
    total = 0
    while True:
        expired = await engine.expire_due(clock.now(), batch)
        total += len(expired)
        if len(expired) < batch:
            return total
        await asyncio.sleep(0)


#: A full collection slower than this marks the heap as worth freezing.
SLOW_FULL_COLLECTION_S = 0.01
#: At most one freeze per this many seconds (each also freezes whatever is alive then).
FREEZE_INTERVAL_S = 60.0


class _FullCollections:
    """Times CPython's full (generation 2) collections through ``gc.callbacks``;
    installed once per process, the first time ``freeze_long_lived`` runs."""

    installed = False
    started = 0.0
    slow_since_freeze = False
    last_freeze = float("-inf")

    @classmethod
    def install(cls) -> None:
        if not cls.installed:
            gc.callbacks.append(cls.callback)
            cls.installed = True

    @classmethod
    def callback(cls, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            cls.started = time.perf_counter()
        elif time.perf_counter() - cls.started >= SLOW_FULL_COLLECTION_S:
            cls.slow_since_freeze = True


async def freeze_long_lived(now: Callable[[], float] = time.monotonic) -> bool:
    """``gc.freeze()`` once a full collection has been slow; True if it froze.

    A full collection walks every tracked container, and the memory engine keeps a few
    containers with an entry per hold: with a million holds each full collection
    stalls the event loop for tens of milliseconds or more, and the collector runs
    one every few thousand allocations. Freezing moves every object alive after that
    slow collection (the engine's tables, modules, the app) into the permanent
    generation, which collections skip. Frozen objects are still freed by reference
    counting; only a reference cycle among them that dies later is never reclaimed,
    which is why this runs at most every ``FREEZE_INTERVAL_S`` and only after a slow
    full collection, not on a timer."""
    fc = _FullCollections
    fc.install()
    if not fc.slow_since_freeze or now() - fc.last_freeze < FREEZE_INTERVAL_S:
        return False
    gc.freeze()
    fc.slow_since_freeze = False
    fc.last_freeze = now()
    log.info("froze %d long-lived objects out of the garbage collector", gc.get_freeze_count())
    return True


Job = Callable[[], Awaitable[object]]


async def run_forever(jobs: list[tuple[str, float, Job]], stop: asyncio.Event) -> None:
    """Run each (name, interval, job) repeatedly until ``stop`` is set; a failing pass
    is logged and retried on the next tick, never fatal."""

    m = metrics()

    async def loop(name: str, interval: float, job: Job) -> None:
        runs, failures = m.job_runs.labels(name), m.job_failures.labels(name)
        while not stop.is_set():
            runs.inc()
            try:
                await job()
            except Exception:
                failures.inc()
                log.exception("background job %s failed", name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    await asyncio.gather(*(loop(n, i, j) for n, i, j in jobs))


def standard_jobs(
    engine: StockEngine,
    clock: Clock,
    uow: UowFactory,
    checkout: CheckoutService,
    expiry_interval_s: float,
    reconcile_interval_s: float,
    *,
    webhooks: WebhookService | None = None,
    messages: MessageService | None = None,
    webhook_interval_s: float = 1.0,
    message_interval_s: float = 2.0,
    message_rate_per_s: float = 50.0,
    recover_after_s: float = 30.0,
    schedule: DropSchedule | None = None,
    schedule_interval_s: float = 0.5,
) -> list[tuple[str, float, Job]]:
    # One drainer per shared engine: this process's lease outlives a few missed passes.
    owner, lease_s = new_id("drn"), max(2.0, 8 * expiry_interval_s)

    async def drain() -> int:
        return await drain_hold_events(engine, uow, owner=owner, lease_s=lease_s)

    jobs: list[tuple[str, float, Job]] = [
        ("expire-holds", expiry_interval_s, lambda: expire_holds(engine, clock)),
        ("drain-hold-events", expiry_interval_s, drain),
        ("recover-checkouts", reconcile_interval_s, lambda: checkout.recover(recover_after_s)),
        ("freeze-long-lived", expiry_interval_s, freeze_long_lived),
    ]
    if webhooks is not None:
        # fan out new outbox rows, then deliver everything due (retries included)
        jobs.append(("webhooks", webhook_interval_s, webhooks.run_once))
    if messages is not None:
        # a run sends what is due, up to the rate's share of the interval
        budget = max(1, round(message_rate_per_s * message_interval_s))
        jobs.append(("send-messages", message_interval_s, lambda: messages.send_paced(budget)))
    if schedule is not None:
        # a pass every half second: a drop opens and ends within a second of its time
        jobs.append(("drop-schedule", schedule_interval_s, schedule.run_once))
    return jobs

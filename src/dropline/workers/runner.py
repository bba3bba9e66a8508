"""``dropline worker``: the background jobs as their own process.

In production the API processes run with ``DROPLINE_BACKGROUND_TASKS=false`` and one or
more workers run the jobs of ``services.background`` (hold expiry, hold events into the
outbox, recovery of half-finished checkouts). Every job is one idempotent pass that
claims its rows safely (Redis scripts for expiry, ``FOR UPDATE SKIP LOCKED`` for
checkouts, inserts keyed on event ids for the outbox), so adding workers is safe.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from dropline.bootstrap import build
from dropline.config import Settings, check_safe
from dropline.services.platform.background import run_forever

log = logging.getLogger(__name__)


class WorkerRefused(Exception):
    """The settings cannot work with a separate worker process."""


def check_settings(settings: Settings) -> None:
    """A worker needs an engine shared with the API processes: with the in-process
    engine the holds live inside the server, which runs the jobs itself."""
    if settings.engine_url == "memory":
        raise WorkerRefused(
            "dropline worker needs a shared engine (DROPLINE_ENGINE_URL=redis://...); "
            "with the in-process engine the server runs the background jobs itself"
        )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run every background job until SIGTERM/SIGINT (or ``stop``) and shut down cleanly:
    the pass in progress finishes, then connections are closed."""
    check_settings(settings)
    check_safe(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    c = await build(settings)
    try:
        await c.drops.sync_engine()
        log.warning("worker running jobs: %s", ", ".join(name for name, _, _ in c.jobs))
        await run_forever(c.jobs, stop)
        log.warning("worker stopped")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await c.close()

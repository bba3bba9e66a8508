"""``dropline serve`` and ``dropline worker``: the API server and background workers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Annotated

import typer

from dropline.cli.console import console
from dropline.cli.platform.logs import configure as configure_logs
from dropline.cli.platform.logs import log_config
from dropline.config import UnsafeSettings, check_safe, load_settings


def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int, typer.Option(help="API processes (needs Redis + PostgreSQL)")] = 1,
) -> None:
    """Run the API server. With the in-process engine only one process may serve."""
    import uvicorn

    settings = load_settings()
    host = host or settings.host
    port = port or settings.port
    try:
        check_safe(settings.model_copy(update={"host": host, "port": port}))
    except UnsafeSettings as exc:
        console.print(str(exc), style="red", highlight=False)
        raise typer.Exit(2) from None
    if workers > 1 and settings.engine_url == "memory":
        console.print("[red]--workers > 1 needs DROPLINE_ENGINE_URL=redis://...[/red]")
        raise typer.Exit(2)
    console.print(f"dropline on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    with metrics_dir():
        uvicorn.run(
            "dropline.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            log_config=log_config(settings.log_format, settings.log_level),
            access_log=False,
            # one write per small response instead of two (api/http_protocol.py)
            http="dropline.api.http_protocol:CoalescingHttpToolsProtocol",
        )


@contextlib.contextmanager
def metrics_dir() -> Iterator[str]:
    """``PROMETHEUS_MULTIPROC_DIR`` for this run: the one given, or a temporary directory
    made now (before any process records a metric) and removed afterwards. Every process
    of the server inherits it, so ``/metrics`` adds them all up. Give ``serve`` and
    ``worker`` on one host the same directory to see the worker's jobs there too."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        os.makedirs(given, exist_ok=True)
        yield given
        return
    made = tempfile.mkdtemp(prefix="dropline-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    try:
        yield made
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(made, ignore_errors=True)


def worker() -> None:
    """Run the background jobs (hold expiry, hold events into the outbox, recovery of
    half-finished checkouts) until SIGTERM. Run one or more next to API processes
    started with DROPLINE_BACKGROUND_TASKS=false; needs DROPLINE_ENGINE_URL=redis://..."""
    from dropline.workers.runner import WorkerRefused, run_worker

    settings = load_settings()
    configure_logs(settings.log_format, settings.log_level)
    try:
        with metrics_dir():
            asyncio.run(run_worker(settings))
    except (WorkerRefused, UnsafeSettings) as exc:
        console.print(str(exc), style="red", highlight=False)
        raise typer.Exit(2) from None

"""``dropline serve`` and ``dropline worker``: the API server and background workers."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from dropline.cli.console import console
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
    uvicorn.run(
        "dropline.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        access_log=False,
        # one write per small response instead of two (api/http_protocol.py)
        http="dropline.api.http_protocol:CoalescingHttpToolsProtocol",
    )


def worker() -> None:
    """Run the background jobs (hold expiry, hold events into the outbox, recovery of
    half-finished checkouts) until SIGTERM. Run one or more next to API processes
    started with DROPLINE_BACKGROUND_TASKS=false; needs DROPLINE_ENGINE_URL=redis://..."""
    from dropline.workers.runner import WorkerRefused, run_worker

    settings = load_settings()
    try:
        asyncio.run(run_worker(settings))
    except (WorkerRefused, UnsafeSettings) as exc:
        console.print(str(exc), style="red", highlight=False)
        raise typer.Exit(2) from None

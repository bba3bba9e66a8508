"""``dropline serve`` and ``dropline worker``: the API server and background workers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from typing import Annotated

import httpx
import typer

from dropline.cli.console import console
from dropline.cli.platform.logs import configure as configure_logs
from dropline.cli.platform.logs import log_config
from dropline.config import UnsafeSettings, check_safe, load_settings


def port_in_use(host: str, port: int) -> str | None:
    """What already listens on ``host:port``: a sentence naming a dropline server (its
    address, which answers ``/healthz``) or another program; None when the port is free."""
    probe = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    try:
        with socket.create_connection((probe, port), timeout=0.5):
            pass
    except OSError:
        return None
    url = f"http://{probe}:{port}"
    try:
        healthy = httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        healthy = False
    if healthy:
        return (
            f"dropline is already running on {url} (pages: {url}/ui, API docs: {url}/docs). "
            "Use that one, stop it first, or start another with DROPLINE_PORT=8001."
        )
    return (
        f"port {port} on {probe} is used by another program; stop it, or choose another "
        "port with DROPLINE_PORT=8001 (or --port)."
    )


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default DROPLINE_PORT, 8000).")] = None,
    workers: Annotated[int, typer.Option(help="API processes (needs Redis + PostgreSQL).")] = 1,
    check: Annotated[
        bool, typer.Option("--check", help="Only say whether the port is free (exit 1 if not).")
    ] = False,
) -> None:
    """Run the API server. With the in-process engine only one process may serve. If
    the port is taken, say by what (a running dropline, or another program) and stop."""
    import uvicorn

    settings = load_settings()
    host = host or settings.host
    port = port or settings.port
    busy = port_in_use(host, port)
    if busy:
        console.print(busy, style="yellow", highlight=False)
        raise typer.Exit(1)
    if check:
        return
    try:
        check_safe(settings.model_copy(update={"host": host, "port": port}))
    except UnsafeSettings as exc:
        console.print(str(exc), style="red", highlight=False)
        raise typer.Exit(2) from None
    if workers > 1 and settings.engine_url == "memory":
        console.print("[red]--workers > 1 needs DROPLINE_ENGINE_URL=redis://...[/red]")
        raise typer.Exit(2)
    schema_or_exit(settings.database_url)
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


def schema_or_exit(database_url: str) -> None:
    """Stop with the command that fixes it when the database is not migrated to this
    dropline's head, before a server starts and fails on its first query instead."""
    from dropline.store.db import SchemaNotCurrent, check_schema, create_engine

    async def check() -> None:
        engine = create_engine(database_url)
        try:
            await check_schema(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(check())
    except SchemaNotCurrent as exc:
        console.print(str(exc), style="red", highlight=False)
        raise typer.Exit(2) from None


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
    from dropline.workers.runner import WorkerRefused, check_settings, run_worker

    settings = load_settings()
    configure_logs(settings.log_format, settings.log_level)
    try:
        # first, as for serve: the settings' refusals are the bigger news
        check_safe(settings)
        check_settings(settings)
    except (WorkerRefused, UnsafeSettings) as exc:
        console.print(str(exc), style="red", highlight=False)
        raise typer.Exit(2) from None
    schema_or_exit(settings.database_url)
    try:
        with metrics_dir():
            asyncio.run(run_worker(settings))
    except (WorkerRefused, UnsafeSettings) as exc:
        console.print(str(exc), style="red", highlight=False)
        raise typer.Exit(2) from None

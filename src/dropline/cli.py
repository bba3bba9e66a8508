"""The ``dropline`` command line.

dropline db upgrade          create or migrate the database
dropline demo                seed the demo shop and a live drop (idempotent)
dropline serve               start the API (docs at /docs)
dropline worker              run the background jobs (expiry, events, recovery)
dropline keys create         make an API key (shown once)
dropline buyer-token BUYER   mint a signed buyer token for testing
dropline report DROP         the post-stream report (--csv, --html FILE)
dropline simulate DROP       drive a realistic live drop against a running server
dropline runs|qc|preorders   production runs, quality control, pre-orders
dropline webhooks replay     send failed webhook deliveries again
dropline tracking import F   mark orders shipped from a CSV of tracking numbers
dropline orders cancel O     cancel an unshipped order and refund it
dropline returns ...         authorise, receive, refund and list returns
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dropline.bootstrap import Container, build
from dropline.config import DEV_BUYER_SECRET, Settings, load_settings
from dropline.domain.errors import DroplineError
from dropline.services.access import SCOPES, mint_buyer_token
from dropline.store.db import upgrade

app = typer.Typer(
    help="dropline runs a creator's live drop from the stream to the shipment.\n\n"
    "Settings come from DROPLINE_* environment variables (see docs/deploy.md); the "
    "default is a SQLite file ./dropline.db, the in-process engine and sandbox payments.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
db_app = typer.Typer(help="Database schema: create and migrate.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
webhooks_app = typer.Typer(help="Webhook deliveries: list and replay.", no_args_is_help=True)
tracking_app = typer.Typer(help="Tracking numbers from the warehouse.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(tracking_app, name="tracking")
console = Console(soft_wrap=True)
T = TypeVar("T")


def _run(fn: Callable[[Container], Awaitable[T]], settings: Settings | None = None) -> T:
    """Build the container, run ``fn``, close, and print domain errors as one line."""

    async def main() -> T:
        c = await build(settings or load_settings(background_tasks=False))
        try:
            return await fn(c)
        finally:
            await c.close()

    try:
        return asyncio.run(main())
    except DroplineError as exc:
        # escape: "[code]" would otherwise be read as Rich markup and vanish
        console.print(f"[red]error[/red] {escape(f'[{exc.code}] {exc.detail}')}")
        raise typer.Exit(1) from None


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create the schema or migrate it to the newest revision (safe to repeat)."""
    settings = load_settings()
    upgrade(settings.database_url, revision)
    console.print(f"database at [bold]{revision}[/bold]: {settings.database_url}")


@app.command()
def demo() -> None:
    """Seed the demo shop (hoodie 3 colours × 4 sizes, cap, bundle) and a live drop,
    then print an admin and a storefront key and a buyer token to try the API."""
    from dropline.services.demo import seed

    async def go(c: Container) -> None:
        shop = await seed(c)
        admin, _ = await c.access.create_key("demo admin", "admin")
        store, _ = await c.access.create_key("demo storefront", "storefront")
        token = c.access.mint("buyer-demo-1", ttl_s=7 * 24 * 3600)
        base = c.settings.base_url
        env = Path(c.settings.data_dir) / "demo.env"
        env.parent.mkdir(parents=True, exist_ok=True)
        env.write_text(
            f"export DL={base}\nexport ADMIN_KEY={admin}\nexport STORE_KEY={store}\n"
            f"export BUYER_TOKEN={token}\nexport DROP={shop.drop_id}\n"
        )
        env.chmod(0o600)
        console.print(
            f"demo drop [bold]{shop.drop_id}[/bold] "
            f"({'created' if shop.created else 'already there'})\n"
            f"  admin key:      {admin}\n  storefront key: {store}\n"
            f"  buyer token:    {token}\n"
            f"  API docs:       {base}/docs\n"
            f"  public view:    curl -H 'Authorization: Bearer {store}' "
            f"{base}/v1/drops/{shop.drop_id}/public\n"
            f"  shell:          source {env}   (sets DL, ADMIN_KEY, STORE_KEY, BUYER_TOKEN, DROP)\n"
            f"  live monitor:   {base}/ui/drops/{shop.drop_id} (log in with the admin key)\n"
            f"  ops pages:      {base}/ui/orders, /ui/messages, /ui/webhooks, /ui/returns\n"
            f"  rehearse:       DROPLINE_OPS_KEY={admin} dropline simulate {shop.drop_id} "
            "--viewers 200 --duration 60"
        )

    _run(go)


@app.command()
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


@app.command()
def worker() -> None:
    """Run the background jobs (hold expiry, hold events into the outbox, recovery of
    half-finished checkouts) until SIGTERM. Run one or more next to API processes
    started with DROPLINE_BACKGROUND_TASKS=false; needs DROPLINE_ENGINE_URL=redis://..."""
    from dropline.workers.runner import WorkerRefused, run_worker

    settings = load_settings()
    try:
        asyncio.run(run_worker(settings))
    except WorkerRefused as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help=f"one of {', '.join(SCOPES)}")],
    name: Annotated[str, typer.Option(help="who or what uses it")] = "cli",
) -> None:
    """Create an API key. The key is printed once; only its hash is stored."""

    async def go(c: Container) -> None:
        raw, rec = await c.access.create_key(name, scope)
        console.print(f"{rec.id} ({scope}): [bold]{raw}[/bold]")

    _run(go)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""

    async def go(c: Container) -> None:
        table = Table("id", "name", "prefix", "scope", "created", "revoked")
        for k in await c.access.list_keys():
            table.add_row(
                k.id,
                k.name,
                k.prefix + "…",
                ",".join(sorted(k.scopes)),
                str(k.created_at)[:19],
                str(k.revoked_at or "")[:19],
            )
        console.print(table)

    _run(go)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key at once (other processes notice within 30 s)."""

    async def go(c: Container) -> None:
        await c.access.revoke_key(key_id)
        console.print(f"revoked {key_id}")

    _run(go)


@app.command("buyer-token")
def buyer_token(
    buyer_id: str,
    ttl: Annotated[int, typer.Option(help="seconds until it expires")] = 3600,
) -> None:
    """Mint a signed buyer token, as the creator's site would, for testing."""
    settings = load_settings()
    if settings.buyer_token_secret == DEV_BUYER_SECRET:
        Console(stderr=True).print(
            "[yellow]using the development secret; set "
            "DROPLINE_BUYER_TOKEN_SECRET in production[/yellow]",
            highlight=False,
        )
    typer.echo(mint_buyer_token(settings.buyer_token_secret, buyer_id, ttl))


from dropline.cli_monitor import register as _register_monitor  # noqa: E402

_register_monitor(app)


def _add_production_commands() -> None:
    from dropline.cli_production import preorders_app, qc_app, runs_app

    app.add_typer(runs_app, name="runs")
    app.add_typer(qc_app, name="qc")
    app.add_typer(preorders_app, name="preorders")
    from dropline.cli_returns import orders_app, returns_app

    app.add_typer(orders_app, name="orders")
    app.add_typer(returns_app, name="returns")


_add_production_commands()


@webhooks_app.command("replay")
def webhooks_replay(
    delivery: Annotated[str | None, typer.Option(help="one delivery id (whd_...)")] = None,
    since: Annotated[
        str | None, typer.Option(help="RFC 3339 time: every failed/dead delivery since")
    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="only this endpoint (whe_...)")] = None,
) -> None:
    """Queue deliveries again with a fresh retry schedule (same webhook-id); the
    dispatcher (server or worker) sends them on its next pass."""
    from datetime import datetime

    if (delivery is None) == (since is None):
        console.print("[red]give exactly one of --delivery or --since[/red]")
        raise typer.Exit(2)

    async def go(c: Container) -> None:
        if delivery:
            d = await c.webhooks.replay(delivery)
            console.print(f"queued {d['id']} ({d['event_type']} → {d['endpoint_id']})")
            return
        assert since is not None
        try:
            at = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            console.print(f"[red]--since {since!r} is not an RFC 3339 time[/red]")
            raise typer.Exit(2) from None
        if at.tzinfo is None:
            console.print("[red]--since needs a timezone, e.g. 2026-11-22T00:00:00Z[/red]")
            raise typer.Exit(2)
        n = await c.webhooks.replay_failed(at, endpoint)
        console.print(f"queued {n} failed/dead deliveries again")

    _run(go)


@webhooks_app.command("list")
def webhooks_list(
    status: Annotated[str | None, typer.Option(help="pending, failed, delivered, dead")] = None,
    limit: int = 50,
) -> None:
    """Recent deliveries, newest first."""

    async def go(c: Container) -> None:
        table = Table("id", "event", "endpoint", "status", "attempts", "last", "next attempt")
        for d in await c.webhooks.list_deliveries(status=status, limit=limit):
            table.add_row(
                d["id"],
                d["event_type"],
                d["endpoint_id"],
                d["status"],
                str(d["attempts"]),
                str(d["last_status_code"] or d["last_error"][:30]),
                str(d["next_attempt_at"])[:19],
            )
        console.print(table)

    _run(go)


@tracking_app.command("import")
def tracking_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Mark orders shipped from a CSV: order_id,carrier,tracking_number[,tracking_url].

    Good rows are applied, bad rows listed with their line number and reason; importing
    the same file again applies nothing twice. Exit code 1 if any row was rejected."""
    from rich.progress import Progress

    text = file.read_text(encoding="utf-8-sig")

    async def go(c: Container) -> int:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("importing", total=None)

            def tick(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = await c.fulfilment.import_tracking(text, source="csv", progress=tick)
        console.print(
            f"{len(report.applied)} applied, {len(report.duplicates)} already imported, "
            f"{len(report.errors)} rejected"
        )
        if report.errors:
            table = Table("line", "code", "problem")
            for line, code, detail in report.errors:
                table.add_row(str(line), code, detail)
            console.print(table)
        return 1 if report.errors else 0

    code = _run(go)
    if code:
        raise typer.Exit(code)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()

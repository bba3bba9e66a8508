"""``dropline webhooks``: list webhook deliveries and replay failed ones."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from dropline.cli.console import console, run

if TYPE_CHECKING:
    from dropline.bootstrap import Container

webhooks_app = typer.Typer(
    help="Webhook deliveries: list, replay, test an endpoint.", no_args_is_help=True
)


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

    run(go)


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

    run(go)


@webhooks_app.command("test")
def webhooks_test(
    endpoint: Annotated[str, typer.Argument(help="the endpoint (whe_...)")],
    actor: Annotated[str, typer.Option(help="who sends it")] = "cli",
) -> None:
    """Send a signed test delivery (``webhook.test``) to an endpoint now and say what it
    answered; a 2xx within 24 h passes the readiness gate's endpoint item."""

    async def go(c: Container) -> bool:
        r = await c.readiness.send_test_delivery(endpoint, actor)
        answer = r["status_code"] if r["status_code"] is not None else r["error"] or "nothing"
        console.print(f"{r['url']} answered {answer} in {r['duration_ms']} ms")
        return bool(r["ok"])

    if not run(go):
        raise typer.Exit(1)

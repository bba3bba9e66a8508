"""``dropline simulate``: drive a realistic live drop against a running server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dropline.cli.console import console, fail
from dropline.cli.live.simulation import Simulation, Summary, default_url
from dropline.config import load_settings
from dropline.domain.errors import DroplineError


def simulate(
    drop_id: str,
    viewers: Annotated[int, typer.Option(help="simulated viewers (1–5000)")] = 50,
    duration: Annotated[float, typer.Option(help="seconds to run (≤ 3600)")] = 60.0,
    url: Annotated[
        str | None,
        typer.Option(
            envvar="DROPLINE_URL",
            help="server URL (loopback only); default DROPLINE_PUBLIC_URL, else "
            "127.0.0.1 on DROPLINE_PORT",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="DROPLINE_OPS_KEY", help="ops (or storefront) key; env DROPLINE_OPS_KEY"
        ),
    ] = None,
    buyer_secret: Annotated[
        str | None,
        typer.Option(
            help="HS256 secret of the buyer token key 'default'; default: mint with the "
            "configured keys (DROPLINE_BUYER_TOKEN_KEYS / _SECRET)"
        ),
    ] = None,
    max_requests: Annotated[int, typer.Option(help="stop after this many requests")] = 5000,
    seed: Annotated[int | None, typer.Option(help="random seed for a repeatable run")] = None,
) -> None:
    """Drive a realistic live drop against a running server over HTTP: bursts of
    taps when a product is pinned, abandoned holds, declined cards, 3-D Secure,
    bundles, channels and promo codes. Watch it on /ui/drops/DROP."""
    from dropline.bootstrap import make_buyer_tokens

    key = api_key or os.environ.get("DROPLINE_OPS_KEY")
    if not key:
        console.print("[red]an API key is needed: --api-key or DROPLINE_OPS_KEY[/red]")
        raise typer.Exit(2)
    try:
        settings = load_settings()
        tokens: str | Callable[[str], str] = buyer_secret or ""
        if not tokens:
            tokens = make_buyer_tokens(settings).mint
            tokens("probe")  # refuses now, not on every tap, if it cannot mint (JWKS only)
        sim = Simulation(
            url or default_url(settings.host, settings.port, settings.public_url),
            key,
            tokens,
            drop_id,
            viewers=viewers,
            duration_s=duration,
            max_requests=max_requests,
            seed=seed,
            methods=settings.test_payment_methods,
        )
    except DroplineError as exc:
        console.print(fail(exc))
        raise typer.Exit(2) from None
    except ValidationError as exc:  # a DROPLINE_* setting that does not parse
        first = exc.errors()[0]
        where = "DROPLINE_" + ".".join(str(p) for p in first["loc"]).upper()
        msg = str(first["msg"])
        console.print(f"[red]error[/red] {escape(f'{where}: {msg}')}")
        raise typer.Exit(2) from None
    progress = Progress(
        TextColumn("[bold]live drop"), BarColumn(), TimeElapsedColumn(), console=console
    )
    task = progress.add_task("run", total=duration)

    def counts_table(s: Summary) -> Table:
        t = Table(show_header=False, box=None)
        for k in (
            "holds_placed",
            "holds_refused",
            "paid",
            "declined",
            "three_d_secure",
            "abandoned",
            "released",
        ):
            t.add_row(k.replace("_", " "), str(s.counts[k]))
        t.add_row("requests", str(s.requests))
        return t

    with Live(Group(progress, counts_table(sim.summary)), console=console) as live:

        def tick(s: Summary, elapsed: float) -> None:
            progress.update(task, completed=min(elapsed, duration))
            live.update(Group(progress, counts_table(s)))

        try:
            summary = asyncio.run(sim.run(tick))
        except DroplineError as exc:
            console.print(fail(exc))
            raise typer.Exit(1) from None
    table = Table(title=f"Simulated {viewers} viewers for {summary.elapsed_s:.0f} s")
    table.add_column("what")
    table.add_column("count", justify="right")
    for k, v in sorted(summary.counts.items()):
        table.add_row(k.replace("_", " "), str(v))
    table.add_row("units paid", str(summary.units_paid))
    table.add_row("requests", str(summary.requests))
    for code, n in summary.refusals.most_common():
        table.add_row(f"refused: {code}", str(n), style="yellow")
    for ch, n in summary.channels.most_common():
        table.add_row(f"holds from {ch}", str(n))
    table.add_row("products pinned", ", ".join(summary.pins))
    console.print(table)
    console.print(f"report: dropline report {drop_id}  ·  page: /ui/drops/{drop_id}/report")

"""CLI commands for the post-stream report and the live-drop simulator.

dropline report DROP [--csv] [--html FILE] [--check]
dropline simulate DROP --viewers N --duration S [--url URL] [--api-key KEY]
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dropline.bootstrap import build
from dropline.config import load_settings
from dropline.domain.errors import DroplineError
from dropline.web.render import fmt_pct, money, report_csv, report_html

console = Console(soft_wrap=True)


def _fmt(value: Any, unit: str, currency: str) -> str:
    return money(value, currency) if unit == currency else f"{value:,}"


def print_report(report: dict[str, Any], out: Console) -> None:
    """The report as Rich tables; unbalanced checks and their differences in red."""
    cur = report["currency"]
    d = report["drop"]
    out.print(f"[bold]{d['name']}[/bold] ({d['id']}) — {d['status']}")
    units = Table(title="Reconciliation: units (offered = sold + returned + still offered)")
    for col in ("SKU", "offered", "sold", "returned", "still offered", "difference"):
        units.add_column(col, justify="left" if col == "SKU" else "right")
    others = Table(title="Reconciliation: holds, orders, money")
    for col in ("check", "left", "right", "difference"):
        others.add_column(col, justify="right" if col == "difference" else "left")
    for c in report["reconciliation"]:
        style = None if c["balanced"] else "bold red"
        vals = [p["value"] for p in c["right"]]
        if c["key"] == "units":
            units.add_row(
                c["scope"],
                f"{c['left']['value']:,}",
                *(f"{v:,}" for v in vals),
                f"{c['difference']:,}",
                style=style,
            )
            continue
        right = " ".join(
            f"{'−' if p['sign'] < 0 else '+'} {p['name']} {_fmt(p['value'], c['unit'], cur)}"
            for p in c["right"]
        ).lstrip("+ ")
        others.add_row(
            c["label"],
            f"{c['left']['name']} {_fmt(c['left']['value'], c['unit'], cur)}",
            "= " + right,
            _fmt(c["difference"], c["unit"], cur),
            style=style,
        )
    out.print(units)
    out.print(others)
    out.print(
        "[green]balanced[/green]" if report["balanced"] else "[bold red]NOT balanced[/bold red]"
    )
    t = report["totals"]
    totals = Table(title="Totals", show_header=False)
    totals.add_row("units sold", f"{t['units_sold']} of {t['units_offered']}")
    totals.add_row("sell-through", fmt_pct(t["sell_through_pct"]))
    totals.add_row("orders / buyers", f"{t['orders']} / {t['buyers']}")
    b = report["buyers"]
    totals.add_row("first-time / repeat", f"{b['first_time']} / {b['repeat']}")
    for k in ("captured", "refunded", "net", "average_order"):
        totals.add_row(k.replace("_", " "), money(t[k], cur))
    out.print(totals)
    skus = Table(title="Sell-through by SKU")
    for col in ("SKU", "offered", "sold", "%", "sold out after"):
        skus.add_column(col)
    for r in report["sell_through"]["by_sku"]:
        secs = r["time_to_sell_out_s"]
        skus.add_row(
            f"{r['label']} ({r['code']})",
            str(r["offered"]),
            str(r["sold"]),
            fmt_pct(r["sell_through_pct"]),
            "—" if secs is None else f"{secs // 60} min {secs % 60:02d} s",
        )
    out.print(skus)
    for dim, rows in report["conversion"].items():
        if not rows:
            continue
        conv = Table(title=f"Conversion by {dim.replace('_', ' ')}")
        for col in (dim, "holds", "orders", "conversion", "units", "revenue"):
            conv.add_column(col)
        for r in rows:
            conv.add_row(
                r["key"],
                str(r["holds"]),
                str(r["orders"]),
                fmt_pct(r["conversion_pct"]),
                str(r["units"]),
                money(r["revenue"], cur),
            )
        out.print(conv)
    a = report["abandonment"]
    out.print(
        f"Holds: {a['placed']} placed, {a['converted']} converted, {a['expired']} expired, "
        f"{a['released']} released, {a['active']} active — abandonment "
        f"{fmt_pct(a['abandonment_pct'])}"
    )
    if report["payment_failures"]:
        fails = Table(title="Payment failures")
        fails.add_column("reason")
        fails.add_column("count")
        for f in report["payment_failures"]:
            fails.add_row(f["reason"], str(f["count"]))
        out.print(fails)
    rt = report["returns"]
    if rt["returns"]:
        ret = Table(
            title=f"Returns: {rt['units']} units ({fmt_pct(rt['return_rate_pct'])} of sold), "
            f"defects {fmt_pct(rt['defect_rate_pct'])}, refunded {money(rt['refunded'], cur)}"
        )
        ret.add_column("reason")
        ret.add_column("units", justify="right")
        for r in rt["by_reason"]:
            ret.add_row(
                r["reason"].replace("_", " ") + (" (defect)" if r["defect"] else ""),
                str(r["units"]),
            )
        out.print(ret)
    p = report["post_stream"]
    post = Table(title=f"Post-stream window ({p['window_h']} h)")
    for col in ("", "orders", "units", "revenue"):
        post.add_column(col)
    for part in ("during", "window", "after"):
        post.add_row(
            part, str(p[part]["orders"]), str(p[part]["units"]), money(p[part]["revenue"], cur)
        )
    out.print(post)
    if report["previous_drops"]:
        prev = Table(title="Earlier drops")
        for col in ("drop", "sold / offered", "sell-through", "orders", "net"):
            prev.add_column(col)
        for r in report["previous_drops"]:
            prev.add_row(
                r["name"],
                f"{r['units_sold']} / {r['units_offered']}",
                fmt_pct(r["sell_through_pct"]),
                str(r["orders"]),
                money(r["net"], r["currency"]),
            )
        out.print(prev)


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``simulate`` to the main CLI."""

    @app.command()
    def report(
        drop_id: str,
        csv: Annotated[bool, typer.Option("--csv", help="print CSV instead of tables")] = False,
        html: Annotated[
            Path | None, typer.Option("--html", help="also write a self-contained HTML file")
        ] = None,
        check: Annotated[
            bool, typer.Option("--check", help="exit with status 1 if anything is unbalanced")
        ] = False,
    ) -> None:
        """The post-stream report of a drop, read straight from the database:
        reconciliation (differences in red), sell-through, conversion, abandonment,
        payment failures, the post-stream window and earlier drops."""

        async def go() -> dict[str, Any]:
            c = await build(load_settings(background_tasks=False))
            try:
                return await c.reports.build(drop_id)
            finally:
                await c.close()

        try:
            data = asyncio.run(go())
        except DroplineError as exc:
            console.print(f"[red]error[/red] {escape(f'[{exc.code}] {exc.detail}')}")
            raise typer.Exit(1) from None
        if csv:
            typer.echo(report_csv(data), nl=False)
        else:
            print_report(data, console)
        if html is not None:
            html.write_text(report_html(data), encoding="utf-8")
            Console(stderr=True).print(f"wrote {html}")
        if check and not data["balanced"]:
            raise typer.Exit(1)

    @app.command()
    def simulate(
        drop_id: str,
        viewers: Annotated[int, typer.Option(help="simulated viewers (1–5000)")] = 50,
        duration: Annotated[float, typer.Option(help="seconds to run (≤ 3600)")] = 60.0,
        url: Annotated[
            str | None, typer.Option(help="server URL (loopback only); default from settings")
        ] = None,
        api_key: Annotated[
            str | None,
            typer.Option(
                envvar="DROPLINE_OPS_KEY", help="ops (or storefront) key; env DROPLINE_OPS_KEY"
            ),
        ] = None,
        buyer_secret: Annotated[
            str | None,
            typer.Option(help="buyer token secret; default DROPLINE_BUYER_TOKEN_SECRET"),
        ] = None,
        max_requests: Annotated[int, typer.Option(help="stop after this many requests")] = 5000,
        seed: Annotated[int | None, typer.Option(help="random seed for a repeatable run")] = None,
    ) -> None:
        """Drive a realistic live drop against a running server over HTTP: bursts of
        taps when a product is pinned, abandoned holds, declined cards, 3-D Secure,
        bundles, channels and promo codes. Watch it on /ui/drops/DROP."""
        from dropline.simulate import Simulation, Summary

        settings = load_settings()
        key = api_key or os.environ.get("DROPLINE_OPS_KEY")
        if not key:
            console.print("[red]an API key is needed: --api-key or DROPLINE_OPS_KEY[/red]")
            raise typer.Exit(2)
        try:
            sim = Simulation(
                url or settings.base_url,
                key,
                buyer_secret or settings.buyer_token_secret,
                drop_id,
                viewers=viewers,
                duration_s=duration,
                max_requests=max_requests,
                seed=seed,
            )
        except DroplineError as exc:
            console.print(f"[red]error[/red] {escape(f'[{exc.code}] {exc.detail}')}")
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
                console.print(f"[red]error[/red] {escape(f'[{exc.code}] {exc.detail}')}")
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

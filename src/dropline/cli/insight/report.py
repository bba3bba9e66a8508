"""``dropline report``: the post-stream report as tables, CSV or HTML."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dropline.cli.console import console
from dropline.cli.insight.report_audience import print_audience
from dropline.config import load_settings
from dropline.domain.errors import DroplineError
from dropline.web.render import fmt_pct, money, report_csv, report_html


def _fmt(value: Any, unit: str, currency: str) -> str:
    return money(value, currency) if unit == currency else f"{value:,}"


def print_report(report: dict[str, Any], out: Console) -> None:
    """The report as Rich tables; unbalanced checks and their differences in red."""
    cur = report["currency"]
    d = report["drop"]
    out.print(f"[bold]{d['name']}[/bold] ({d['id']}) — {d['status']}")
    units = Table(title="Reconciliation: units (offered = sold + back in stock + still offered)")
    for col in ("SKU", "offered", "sold", "back in stock", "still offered", "difference"):
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
    for k in ("captured", "authorised", "refunded", "net", "average_order"):
        totals.add_row(k.replace("_", " "), money(t[k], cur))
    out.print(totals)
    skus = Table(title="Sell-through by SKU")
    for col in ("SKU", "offered", "sold", "%", "sold out after"):
        skus.add_column(col)
    for r in report["sell_through"]["by_sku"]:
        secs = r["time_to_sell_out_s"]
        skus.add_row(
            f"{r['label']} ({r['code']}{', pre-order' if r['preorder'] else ''})",
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
    print_audience(report, out)
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
    payment failures, the post-stream window, the access windows (sold and passed on),
    the waitlist and restock waves, and earlier drops."""

    from dropline.bootstrap import build  # here: --help need not load the services

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

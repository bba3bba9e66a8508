"""The launch commands' Rich tables: a launch, its timeline, its scorecard with the
stress test, and a first-run answer."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from dropline.cli.console import console
from dropline.domain.money import Money


def timeline(t: dict[str, Any]) -> None:
    if not t["milestones"]:
        console.print("no milestones yet: [bold]dropline launches timeline-set[/bold]")
        return
    table = Table(title=f"Timeline ({t['day_unit']} days), stream {t['stream_date']}")
    for col in ("milestone", "owner", "days", "after", "earliest", "latest finish", "slack", ""):
        table.add_column(col, justify="right" if col in ("days", "slack") else "left")
    for m in t["milestones"]:
        flags = []
        if m["done"]:
            flags.append(f"[green]done {m['actual_finish']}[/green]")
        if m["overdue"]:
            flags.append(f"[red]overdue since {m['due']}[/red]")
        if m["critical"]:
            flags.append("[bold]critical[/bold]")
        table.add_row(
            m["key"],
            m["owner"],
            str(m["duration_days"]),
            ", ".join(m["depends_on"]),
            f"{m['earliest_start']} → {m['earliest_finish']}",
            m["latest_finish"],
            str(m["slack_days"]),
            " ".join(flags),
        )
    console.print(table)
    verdict = (
        f"[green]feasible[/green], {t['slack_days']} days of slack"
        if t["feasible"]
        else f"[red]not feasible[/red]: {t['shortfall_days']} days short"
    )
    console.print(
        f"finish {t['finish']}, due by {t['deadline']} (stream − {t['buffer_days']} days "
        f"buffer): {verdict}"
    )


def launch(v: dict[str, Any]) -> None:
    console.print(
        f"[bold]Launch {v['id']}[/bold] {v['name']}"
        + (f" — {v['concept']}" if v["concept"] else "")
    )
    links = [f"{k} {v[k]}" for k in ("product_id", "run_id", "drop_id") if v[k]]
    if links:
        console.print(", ".join(links))
    card = v["scorecard"]
    if card:
        console.print(
            f"scorecard v{card['version']}: {card['total']}/100 → [bold]{card['verdict']}[/bold]"
        )
    else:
        console.print("not scored yet: [bold]dropline launches scorecard[/bold] shows proposals")
    sc = v.get("latest_scenario")
    if sc:
        console.print(
            f"first run: {sc['first_run_quantity']} units, order {sc['order_quantity']} "
            f"({sc['decision']})"
        )
    for a in v["alerts"]:
        console.print(
            f"[red]alert[/red] {a['detail']}" + (f" (owner {a['owner']})" if a["owner"] else "")
        )
    timeline(v["timeline"])


def scorecard(s: dict[str, Any]) -> None:
    cur = s["current"]
    if cur:
        t = Table(title=f"Scorecard v{cur['version']}: {cur['total']}/100 → {cur['verdict']}")
        for col in ("variable", "score", "weight", "note"):
            t.add_column(col)
        for name, item in cur["scores"].items():
            t.add_row(name, str(item["score"]), str(cur["weights"].get(name, 1)), item["note"])
        console.print(t)
        console.print(f"by {cur['changed_by']}: {cur['reason']}")
    if s["proposals"]:
        t = Table(title="Proposed from evidence")
        for col in ("variable", "score", "why"):
            t.add_column(col)
        for p in s["proposals"]:
            t.add_row(p["variable"], str(p["score"]), p["why"])
        console.print(t)
    t = Table(title="Stress test: " + ("passes" if s["stress_test"]["passed"] else "does not pass"))
    for col in ("check", "result", "why"):
        t.add_column(col)
    colour = {"pass": "green", "fail": "red", "unknown": "yellow", "manual": "cyan"}
    for ch in s["stress_test"]["checks"]:
        t.add_row(ch["name"], f"[{colour[ch['status']]}]{ch['status']}[/]", ch["detail"])
    console.print(t)


def first_run(r: dict[str, Any]) -> None:
    cur = r["currency"]
    q = r["first_run_quantity"]
    console.print(
        f"critical ratio {r['critical_ratio']:.4f} → first run [bold]{q}[/bold] units; "
        f"decision [bold]{r['decision']}[/bold]: {r['reason']}"
    )
    t = Table(title="Scenarios (demand " + f"mean {r['demand']['mean']}, sd {r['demand']['sd']})")
    for col in (
        "scenario",
        "make",
        "exp. sold",
        "exp. leftover",
        "stock-out",
        "exp. profit",
        "cash tied up",
    ):
        t.add_column(col, justify="left" if col == "scenario" else "right")
    for name, o in r["scenarios"].items():
        t.add_row(
            name,
            str(o["quantity"]),
            f"{o['expected_sales']:.1f}",
            f"{o['expected_leftover']:.1f}",
            f"{100 * o['stockout_probability']:.1f} %",
            Money(o["expected_profit"], cur).format()
            if o["expected_profit"] >= 0
            else "-" + Money(-o["expected_profit"], cur).format(),
            Money(o["cash_tied_up"], cur).format(),
        )
    console.print(t)
    split = r.get("size_split") or {}
    if split.get("units"):
        console.print(
            f"split ({split['source']}): "
            + ", ".join(f"{k} {v}" for k, v in split["units"].items())
        )
    ph = r["phased_plan"]
    pct, days = ph["reorder"]["threshold_pct"], ph["reorder"]["window_days"]
    console.print(
        f"phased: first batch {ph['first_batch']}, reorder at {pct} % sell-through within "
        f"{days} days (dropline runs create --reorder {pct}:{days})"
    )

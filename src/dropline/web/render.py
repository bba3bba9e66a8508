"""Rendering shared by the web pages and the CLI: Jinja2 templates, money, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import humanize

from dropline.domain.money import format_money
from dropline.domain.readable_time import readable_utc
from dropline.web.chart import bar_chart, sales_chart

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def money(amount: int | None, currency: str) -> str:
    """``12345, "USD"`` → ``USD 123.45`` (``domain.money.format_money``); None → ``—``."""
    if amount is None:
        return "—"
    return format_money(amount, currency)


def _utc(value: datetime | float | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def exact_time(value: datetime | float | str | None) -> str:
    """``Fri 12 Dec 2026, 20:00 UTC``: minutes, no microseconds, always UTC."""
    dt = _utc(value)
    return "—" if dt is None else readable_utc(dt)


def relative_time(value: datetime | float | str | None, now: datetime | None = None) -> str:
    """``3 minutes ago`` or ``in 2 hours`` (the ``humanize`` package), from ``now``."""
    dt = _utc(value)
    if dt is None:
        return "—"
    ref = now or datetime.now(UTC)
    delta = ref - dt
    text: str = humanize.naturaltime(delta)
    return text.replace(" from now", "").join(("in ", "")) if delta < timedelta(0) else text


def human_time(value: datetime | float | str | None, now: datetime | None = None) -> str:
    """Both at once, for lists: ``Fri 12 Dec 2026, 20:00 UTC (in 2 hours)``."""
    dt = _utc(value)
    return "—" if dt is None else f"{exact_time(dt)} ({relative_time(dt, now)})"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def environment() -> Environment:
    # Jinja2 on first use: the CLI's time and money helpers above need none of it.
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["pct"] = fmt_pct
    env.filters["duration"] = duration
    env.filters["exact_time"] = exact_time
    env.filters["relative_time"] = relative_time
    env.filters["human_time"] = human_time
    return env


_ENV: Environment | None = None


def env() -> Environment:
    global _ENV
    if _ENV is None:
        _ENV = environment()
    return _ENV


def report_chart(report: dict[str, Any]) -> str:
    """The report's sales chart with a marker where each SKU sold out."""
    marks = [
        (r["sold_out_at"], r["label"]) for r in report["sell_through"]["by_sku"] if r["sold_out_at"]
    ]
    return sales_chart(report["timeline"], marks)


def lesson_charts(lessons: dict[str, Any]) -> dict[str, Any]:
    """The lessons page's charts: sell-through, the corrected size curve, each drop's
    funnel and each drop's sales velocity with its host cues (``drop_id`` → SVG)."""
    variants = lessons["variants"]
    out: dict[str, Any] = {
        "sell_through": bar_chart(
            "sell-through-chart",
            "Offered, sold and unserved demand per variant",
            ("Offered", "Sold", "Unserved demand"),
            [(v["label"], (v["offered"], v["sold"], v["unserved_demand"])) for v in variants],
        ),
        "size_curve": bar_chart(
            "size-curve-chart",
            "Corrected demand per size",
            ("Corrected demand",),
            [(size, (n,)) for size, n in lessons["next_first_run"]["size_curve"].items()],
        ),
        "funnel": {},
        "cues": {},
    }
    for f in lessons.get("funnel", []):
        rows = [("Whole drop", (f["views"], f["held"], f["paid"]))]
        rows += [(s["label"], (s["views"], s["held"], s["paid"])) for s in f["by_sku"]]
        out["funnel"][f["drop_id"]] = bar_chart(
            f"funnel-chart-{f['drop_id']}",
            f"Funnel of {f['name']}: views, buyers who held, buyers who paid",
            ("Views", "Held", "Paid"),
            rows,
        )
    for drop_id, tl in lessons.get("velocity", {}).items():
        cues = [
            (c["at"], f"{c['kind']}: {c['text'] or c['label'] or c['sku_id'] or ''}")
            for c in lessons.get("cues", [])
            if c["drop_id"] == drop_id
        ]
        marks = [(m["at"], m["label"]) for m in tl.get("sold_out", [])]
        out["cues"][drop_id] = sales_chart(tl, marks, cues, chart_id=f"cue-chart-{drop_id}")
    return out


def report_html(report: dict[str, Any]) -> str:
    """A self-contained HTML file (inline CSS and SVG, nothing external)."""
    css = (STATIC / "app.css").read_text()
    return (
        env()
        .get_template("report_standalone.html")
        .render(report=report, chart=report_chart(report), css=css)
    )


def report_csv(report: dict[str, Any]) -> str:
    """The report as CSV rows: ``section, name, metric, value`` (one table, easy to
    open in a spreadsheet); money in minor units."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["section", "name", "metric", "value"])
    for c in report["reconciliation"]:
        name = f"{c['label']} ({c['scope']})"
        w.writerow(["reconciliation", name, c["left"]["name"], c["left"]["value"]])
        for p in c["right"]:
            w.writerow(["reconciliation", name, p["name"], p["value"] * p["sign"]])
        w.writerow(["reconciliation", name, "difference", c["difference"]])
        w.writerow(["reconciliation", name, "balanced", c["balanced"]])
    for k, v in report["totals"].items():
        w.writerow(["totals", "", k, v])
    for row in report["sell_through"]["by_sku"]:
        for k in ("offered", "sold", "sell_through_pct", "time_to_sell_out_s"):
            w.writerow(["sell_through", row["label"], k, row[k]])
    for dim in ("by_size", "by_colour"):
        for row in report["sell_through"][dim]:
            for k in ("offered", "sold", "sell_through_pct"):
                w.writerow([f"sell_through_{dim[3:]}", row["key"], k, row[k]])
    for dim, rows in report["conversion"].items():
        for row in rows:
            for k in ("holds", "orders", "conversion_pct", "units", "revenue"):
                w.writerow([f"conversion_{dim}", row["key"], k, row[k]])
    for k, v in report["abandonment"].items():
        w.writerow(["abandonment", "", k, v])
    for row in report["payment_failures"]:
        w.writerow(["payment_failures", row["reason"], "count", row["count"]])
    for k, v in report["buyers"].items():
        w.writerow(["buyers", "", k, v])
    post = report["post_stream"]
    for part in ("during", "window", "after"):
        for k, v in post[part].items():
            w.writerow(["post_stream", part, k, v])
    rt = report["returns"]
    for k in ("returns", "units", "return_rate_pct", "defect_units", "defect_rate_pct"):
        w.writerow(["returns", "", k, rt[k]])
    for k in ("refunded", "refund_pending"):
        w.writerow(["returns", "", k, rt[k]])
    for row in rt["by_reason"]:
        w.writerow(["returns_by_reason", row["reason"], "units", row["units"]])
    for row in rt["by_sku"]:
        w.writerow(["returns_by_sku", row["label"], "units", row["units"]])
    for p in report["timeline"]["points"]:
        w.writerow(["timeline", p["t"], "units", p["units"]])
    for win in report.get("access", {}).get("windows", []):
        name = win["name"] or f"window {win['index'] + 1}"
        w.writerow(["access_windows", name, "starts_at", win["starts_at"]])
        w.writerow(["access_windows", name, "tiers", " ".join(win["tiers"]) or "everyone"])
        for s in win["skus"]:
            for k in ("allocated", "carried_in", "sold", "leftovers"):
                w.writerow(["access_windows", f"{name} {s['sku_id']}", k, s[k]])
    for line in report.get("waitlist", {}).get("skus", []):
        for k in ("joined", "entries", "offered", "claimed", "lost", "skipped", "left", "waiting"):
            w.writerow(["waitlist", line["sku_id"], k, line[k]])
        w.writerow(["waitlist", line["sku_id"], "unserved", line["unserved"]])
    for wave in report.get("restocks", []):
        keys = ("sku_id", "quantity", "at", "status", "reopens", "ends_at", "waitlisted")
        for k in (*keys, "for_waitlist", "on_sale", "back_in_stock"):
            w.writerow(["restocks", wave["id"], k, wave.get(k)])
    for d in report["previous_drops"]:
        for k in ("units_offered", "units_sold", "sell_through_pct", "orders", "net"):
            w.writerow(["previous_drops", d["name"], k, d[k]])
    return out.getvalue()

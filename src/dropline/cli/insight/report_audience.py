"""The audience part of ``dropline report``: the access windows (what each sold and
passed on), the waitlist per SKU and the restock waves, as Rich tables."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from dropline.web.render import exact_time


def _n(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def print_audience(report: dict[str, Any], out: Console) -> None:
    """Tables for the windows, the waitlist and the waves; nothing for a drop that had
    none of them."""
    windows = report.get("access", {}).get("windows", [])
    if windows:
        t = Table(
            title="Access windows (units counted at the hold the engine charged; leftovers flow on)"
        )
        for col in ("window", "tiers", "opens", "SKU", "allocated", "carried in", "sold"):
            t.add_column(col, justify="right" if col in ("allocated", "carried in") else "left")
        t.add_column("leftovers passed on", justify="right")
        for w in windows:
            name = w["name"] or f"window {w['index'] + 1}"
            tiers = ", ".join(w["tiers"]) or "everyone"
            rows = w["skus"] or [None]
            for i, s in enumerate(rows):
                head = (name, tiers, exact_time(w["starts_at"])) if i == 0 else ("", "", "")
                if s is None:
                    t.add_row(*head, "—", "all left" if w["allocation"] is None else "0", "", "0")
                    continue
                t.add_row(
                    *head,
                    s["sku_id"],
                    "all left" if s["allocated"] is None else _n(s["allocated"]),
                    _n(s["carried_in"]),
                    _n(s["sold"]),
                    _n(s["leftovers"]),
                )
        out.print(t)
    waitlist = report.get("waitlist")
    if waitlist and waitlist["skus"]:
        t = Table(title=f"Waitlist (order {waitlist['order']})")
        cols = ("SKU", "joined", "entries", "claims offered", "claimed", "lost", "skipped")
        for col in (*cols, "left", "waiting", "unserved"):
            t.add_column(col, justify="left" if col == "SKU" else "right")
        for s in waitlist["skus"]:
            keys = ("joined", "entries", "offered", "claimed", "lost", "skipped", "left", "waiting")
            t.add_row(s["sku_id"], *(_n(s[k]) for k in keys), _n(s["unserved"]))
        out.print(t)
    waves = report.get("restocks", [])
    if waves:
        t = Table(title="Restock waves")
        figures = ("to waitlist", "for waitlist", "on sale", "back in stock")
        for col in ("wave", "SKU", "at", "units", "status", *figures):
            t.add_column(col, justify="right" if col in ("units", *figures) else "left")
        for w in waves:
            t.add_row(
                w["id"],
                w["sku_id"],
                exact_time(w["at"]),
                _n(w["quantity"]),
                w["status"] + (f" ({w['error']})" if w["error"] else ""),
                _n(w["waitlisted"]),
                _n(w.get("for_waitlist")),
                _n(w["on_sale"]),
                _n(w.get("back_in_stock")),
            )
        out.print(t)

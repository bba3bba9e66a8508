"""Next-drop insight: what several drops teach the next one, read from each drop's
post-stream report (``services.insight.report``, so a figure means the same thing
here and there) and from every paid order (the 90-day repeat cohorts), ending in
``next_first_run``: the corrected size curve and three-point demand that
``POST /v1/planning/first-run`` takes as they are. Definitions in
``domain.insight.lessons``; the CSV has one ``section, name, metric, value`` row per
figure."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from dropline.domain.errors import InvalidInput
from dropline.domain.insight.funnel import DEFAULT_LIFT_WINDOW_S
from dropline.domain.insight.lessons import (
    VariantRow,
    repeat_cohorts,
    size_curve,
    suggested_demand,
    variant_totals,
)
from dropline.services.insight.funnel import FunnelService
from dropline.services.insight.report import ReportService
from dropline.services.insight.report_sales import ATTRIBUTION_DIMENSIONS
from dropline.services.ports import Clock
from dropline.services.serialize import rfc3339
from dropline.store.insight.lessons_repo import LessonRepository
from dropline.store.uow import UowFactory

MAX_DROPS = 50


class LessonService:
    def __init__(
        self, uow: UowFactory, reports: ReportService, clock: Clock, funnel: FunnelService
    ) -> None:
        self.uow = uow
        self.reports = reports
        self.clock = clock
        self.funnel = funnel

    async def across(
        self, drop_ids: Sequence[str], cue_window_s: int = DEFAULT_LIFT_WINDOW_S
    ) -> dict[str, Any]:
        """Per-variant sell-through, sell-out and unserved demand over ``drop_ids`` (1 to
        50, each known: ``NotFound`` otherwise), conversion by channel/UTM/promo code
        summed over them (attributed holds and orders only: a drop without attribution
        adds nothing), each drop's 90-day repeat cohort, its funnel (views → held →
        paid), its unserved demand per SKU, and its host cues with the lift in the
        ``cue_window_s`` seconds after each."""
        ids = list(dict.fromkeys(d.strip() for d in drop_ids if d.strip()))
        if not ids or len(ids) > MAX_DROPS:
            raise InvalidInput(f"choose 1 to {MAX_DROPS} drops", field="drop_ids")
        rows: list[VariantRow] = []
        funnels: list[dict[str, Any]] = []
        unserved_rows: list[dict[str, Any]] = []
        cue_rows: list[dict[str, Any]] = []
        velocity: dict[str, dict[str, Any]] = {}
        conversion: dict[str, dict[str, dict[str, int]]] = {d: {} for d in ATTRIBUTION_DIMENSIONS}
        drops = []
        for d in ids:
            report = await self.reports.build(d)
            drops.append({"id": d, "name": report["drop"]["name"]})
            start = datetime.fromisoformat(report["timeline"]["start"])
            end = datetime.fromisoformat(report["drop"]["ended_at"] or report["generated_at"])
            window = max(0, int((end - start).total_seconds()))
            by_sku = report["sell_through"]["by_sku"]
            labels = {r["sku_id"]: r["label"] for r in by_sku}
            figures = await self.funnel.figures(d, [r["sku_id"] for r in by_sku])
            fun = figures["funnel"]
            for s in fun["by_sku"]:
                s["label"] = labels.get(s["sku_id"], s["sku_id"])
            funnels.append({"drop_id": d, "name": report["drop"]["name"], **fun})
            velocity[d] = {
                **report["timeline"],
                "sold_out": [
                    {"at": r["sold_out_at"], "label": r["label"]}
                    for r in by_sku
                    if r["sold_out_at"]
                ],
            }
            unserved_by_sku = {u["sku_id"]: int(u["unserved_demand"]) for u in figures["unserved"]}
            for u in figures["unserved"]:
                unserved_rows.append(
                    {"drop_id": d, "label": labels.get(u["sku_id"], u["sku_id"]), **u}
                )
            for cue in await self.funnel.cue_timeline(d, start, end, cue_window_s):
                cue_rows.append(
                    {
                        **cue,
                        "at": rfc3339(cue["at"]),
                        "created_at": rfc3339(cue["created_at"]),
                        "label": labels.get(cue["sku_id"] or "", ""),
                    }
                )
            for r in by_sku:
                attrs = {str(k).lower(): v for k, v in r["attributes"].items()}
                rows.append(
                    VariantRow(
                        d,
                        r["sku_id"],
                        r["label"],
                        r["offered"],
                        r["sold"],
                        r["time_to_sell_out_s"],
                        attrs.get("size") or None,
                        window,
                        unserved_by_sku.get(r["sku_id"], 0),
                    )
                )
            for dim, entries in report["conversion"].items():
                for e in (e for e in entries if e["key"] != "(none)"):
                    t = conversion[dim].setdefault(e["key"], {"holds": 0, "orders": 0, "units": 0})
                    for k in t:
                        t[k] += int(e[k])
        async with self.uow(readonly=True) as uow:
            purchases = await LessonRepository(uow.conn, self.uow.now).purchases()
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        return {
            "drops": drops,
            "variants": variant_totals(rows),
            "conversion": {
                dim: [
                    {
                        "key": k,
                        **v,
                        "conversion_bp": v["orders"] * 10_000 // v["holds"] if v["holds"] else None,
                    }
                    for k, v in sorted(entries.items(), key=lambda kv: (-kv[1]["orders"], kv[0]))
                ]
                for dim, entries in conversion.items()
                if entries
            },
            "repeat_cohorts": repeat_cohorts(purchases, ids, now),
            "funnel": funnels,
            "unserved": unserved_rows,
            "cues": cue_rows,
            "cue_window_s": cue_window_s,
            "velocity": velocity,
            "next_first_run": {
                "size_curve": size_curve(rows),
                "demand": suggested_demand(rows),
            },
        }


def lessons_csv(lessons: dict[str, Any]) -> str:
    """The lessons as ``section, name, metric, value`` rows: one section per table
    and chart of the page (variants, conversion, size curve, first-run demand, repeat
    cohorts, funnel per drop, SKU and channel, unserved demand, cues, velocity)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["section", "name", "metric", "value"])
    for v in lessons["variants"]:
        for k in (
            "drops",
            "offered",
            "sold",
            "sell_through_bp",
            "fastest_sell_out_s",
            "unserved_demand",
        ):
            w.writerow(["variant", v["label"], k, v[k]])
        w.writerow(["variant", v["label"], "sold_out_in", " ".join(v["sold_out_in"])])
    for dim, entries in lessons["conversion"].items():
        for e in entries:
            for k in ("holds", "orders", "conversion_bp", "units"):
                w.writerow([f"conversion_{dim}", e["key"], k, e[k]])
    for size, weight in lessons["next_first_run"]["size_curve"].items():
        w.writerow(["size_curve", size, "corrected_demand", weight])
    for k, v in (lessons["next_first_run"]["demand"] or {}).items():
        w.writerow(["first_run_demand", "", k, v])
    for c in lessons["repeat_cohorts"]:
        for k in ("cohort", "repeat_90d", "repeat_90d_bp", "complete"):
            w.writerow(["repeat_cohort", c["drop_id"], k, c[k]])
    stages = ("views", "held", "paid", "hold_rate_bp", "pay_rate_bp", "view_to_paid_bp")
    for f in lessons.get("funnel", []):
        for k in stages:
            w.writerow(["funnel", f["drop_id"], k, f[k]])
        for s in f["by_sku"]:
            for k in stages:
                w.writerow(["funnel_sku", f"{f['drop_id']} {s['label']}", k, s[k]])
        for ch in f["by_channel"]:
            for k in stages:
                w.writerow(["funnel_channel", f"{f['drop_id']} {ch['channel']}", k, ch[k]])
    for u in lessons.get("unserved", []):
        for k in (
            "refused_taps",
            "refused_buyers",
            "unserved_units",
            "waitlist_joins",
            "unserved_demand",
        ):
            w.writerow(["unserved", f"{u['drop_id']} {u['label']}", k, u[k]])
    for c in lessons.get("cues", []):
        name = f"{c['drop_id']} {c['at']} {c['kind']}"
        for k in (
            "text",
            "scope",
            "units_before",
            "units_after",
            "before_per_min",
            "after_per_min",
            "lift_per_min",
        ):
            w.writerow(["cue", name, k, "" if c[k] is None else c[k]])
    for drop_id, tl in lessons.get("velocity", {}).items():
        for p in tl["points"]:
            w.writerow(["velocity", f"{drop_id} {p['t']}", "units", p["units"]])
    return out.getvalue()

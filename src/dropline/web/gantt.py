"""A launch timeline as a Gantt chart in inline SVG: no scripts and no external
resources, so the page works without a build step and prints.

One row per milestone: a bar from its earliest start to its earliest finish (red on
the critical path, green when done, outlined red when overdue), then its slack as a pale
bar up to its latest finish; vertical lines for today, ``stream − buffer`` and the
stream."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape
from typing import Any

LABEL_W, PLOT_W, ROW_H, HEAD_H, PAD = 190, 720, 24, 34, 8
COLOURS = {"critical": "#c62828", "done": "#2e7d32", "normal": "#1565c0", "slack": "#bbdefb"}


def gantt_svg(timeline: dict[str, Any], today: date) -> str:
    """The chart of a planned timeline (``LaunchService.timeline``)."""
    ms = timeline["milestones"]
    height = HEAD_H + ROW_H * len(ms) + 12 + 11 * 3 + PAD
    width = LABEL_W + PLOT_W + PAD
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" id="gantt" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        'aria-label="Launch timeline: critical path and slack">'
        "<title>Launch timeline: critical path and slack</title>"
    )
    if not ms:
        return (
            head
            + f'<text x="{width // 2}" y="{HEAD_H}" text-anchor="middle">No milestones</text></svg>'
        )
    days = [date.fromisoformat(timeline["start_date"]), date.fromisoformat(timeline["stream_date"])]
    for m in ms:
        for k in ("earliest_start", "latest_finish", "earliest_finish", "actual_finish"):
            if m[k]:
                days.append(date.fromisoformat(m[k]))
    first, last = min(days), max(days) + timedelta(days=1)
    span = max(1, (last - first).days)

    def x(d: date) -> float:
        return round(LABEL_W + PLOT_W * (d - first).days / span, 1)

    parts = [head]
    for label, d in ((first.isoformat(), first), (last.isoformat(), last)):
        parts.append(
            f'<text x="{x(d)}" y="14" font-size="11" text-anchor="middle" '
            f'fill="#555">{label}</text>'
        )
    for i, m in enumerate(ms):
        y = HEAD_H + i * ROW_H
        es = date.fromisoformat(m["earliest_start"])
        ef = date.fromisoformat(m["actual_finish"] or m["earliest_finish"]) + timedelta(days=1)
        lf = date.fromisoformat(m["latest_finish"]) + timedelta(days=1)
        kind = "done" if m["done"] else "critical" if m["critical"] else "normal"
        name = escape(m["name"]) + (f" · {escape(m['owner'])}" if m["owner"] else "")
        parts.append(
            f'<text x="{PAD}" y="{y + 16}" font-size="12"'
            + (' font-weight="bold"' if m["critical"] else "")
            + f">{name}</text>"
        )
        if lf > ef and not m["done"]:
            parts.append(
                f'<rect class="slack" x="{x(ef)}" y="{y + 7}" width="{round(x(lf) - x(ef), 1)}" '
                f'height="10" fill="{COLOURS["slack"]}"><title>slack {m["slack_days"]} days, '
                f"latest finish {m['latest_finish']}</title></rect>"
            )
        stroke = ' stroke="#b71c1c" stroke-width="2"' if m["overdue"] else ""
        width_bar = max(2.0, round(x(ef) - x(es), 1))
        parts.append(
            f'<rect class="bar {kind}" data-key="{escape(m["key"])}" x="{x(es)}" y="{y + 4}" '
            f'width="{width_bar}" height="16" rx="2" fill="{COLOURS[kind]}"{stroke}>'
            f"<title>{escape(m['name'])}: {m['earliest_start']} → "
            f"{m['actual_finish'] or m['earliest_finish']}, slack {m['slack_days']}"
            f"{', critical' if m['critical'] else ''}{', overdue' if m['overdue'] else ''}"
            "</title></rect>"
        )
    bottom = HEAD_H + ROW_H * len(ms)
    marks = [
        ("today", today, "#555"),
        ("stream", date.fromisoformat(timeline["stream_date"]), "#6a1b9a"),
    ]
    if timeline["deadline"]:
        marks.append(
            (
                "stream − buffer",
                date.fromisoformat(timeline["deadline"]) + timedelta(days=1),
                "#ef6c00",
            )
        )
    for n, (label, d, colour) in enumerate(marks):
        if first <= d <= last:
            parts.append(
                f'<line x1="{x(d)}" y1="{HEAD_H - 6}" x2="{x(d)}" y2="{bottom}" stroke="{colour}" '
                f'stroke-dasharray="4 3"/><text x="{x(d)}" y="{bottom + 12 + 11 * n}" '
                f'font-size="11" text-anchor="middle" fill="{colour}">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)

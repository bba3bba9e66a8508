"""A launch timeline as a Gantt chart, drawn by matplotlib as inline SVG
(``web/svgplot.py`` says why and how): no scripts and no external resources, so the
page works without a build step and prints.

One row per milestone, in the plan's order from the top: a bar from its earliest start
to its earliest (or actual) finish — red on the critical path, green when done, blue
otherwise, outlined dark red when overdue — then its slack as a pale bar up to its
latest finish; dashed vertical lines for today, ``stream − buffer`` and the stream,
labelled below the axis. Critical milestones' names are bold.

What the page and its tests find in the SVG: ``g.bar.<kind>`` with ``data-key`` (the
milestone's key) per milestone, ``g.slack`` per bar of slack, ``g.day-mark`` per day
line; each with a ``<title>`` tooltip."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from dropline.web import svgplot

WIDTH, ROW_H, HEAD_H, FOOT_H = 920, 24, 30, 64
COLOURS = {"critical": "#c62828", "done": "#2e7d32", "normal": "#1565c0", "slack": "#bbdefb"}
TITLE = "Launch timeline: critical path and slack"


def gantt_svg(timeline: dict[str, Any], today: date) -> str:
    """The chart of a planned timeline (``LaunchService.timeline``) seen on ``today``."""
    ms = timeline["milestones"]
    height = HEAD_H + ROW_H * max(1, len(ms)) + FOOT_H
    fig = svgplot.figure(WIDTH, height)
    if not ms:
        fig.text(0.5, 0.5, "No milestones", ha="center", va="center", color="#666")
        return svgplot.to_svg(fig, element_id="gantt", css_class="chart gantt", title=TITLE)
    fig.subplots_adjust(left=0.22, right=0.95, top=1 - HEAD_H / height, bottom=FOOT_H / height)
    ax = fig.add_subplot()
    marks = svgplot.Marks()
    days = [date.fromisoformat(timeline["start_date"]), date.fromisoformat(timeline["stream_date"])]
    for m in ms:
        for k in ("earliest_start", "latest_finish", "earliest_finish", "actual_finish"):
            if m[k]:
                days.append(date.fromisoformat(m[k]))
    first, last = min(days), max(days) + timedelta(days=1)

    def x(d: date) -> float:
        return svgplot.days(d)

    for i, m in enumerate(ms):
        es = date.fromisoformat(m["earliest_start"])
        ef = date.fromisoformat(m["actual_finish"] or m["earliest_finish"]) + timedelta(days=1)
        lf = date.fromisoformat(m["latest_finish"]) + timedelta(days=1)
        kind = "done" if m["done"] else "critical" if m["critical"] else "normal"
        if lf > ef and not m["done"]:
            (slack,) = ax.barh(i, x(lf) - x(ef), left=x(ef), height=0.4, color=COLOURS["slack"])
            marks.mark(
                slack,
                "slack",
                f"slack {m['slack_days']} days, latest finish {m['latest_finish']}",
            )
        (bar,) = ax.barh(
            i,
            max(x(ef) - x(es), 0.2),
            left=x(es),
            height=0.66,
            color=COLOURS[kind],
            edgecolor="#b71c1c" if m["overdue"] else "none",
            linewidth=2 if m["overdue"] else 0,
        )
        marks.mark(
            bar,
            f"bar {kind}" + (" overdue" if m["overdue"] else ""),
            f"{m['name']}: {m['earliest_start']} → {m['actual_finish'] or m['earliest_finish']}, "
            f"slack {m['slack_days']}"
            + (", critical" if m["critical"] else "")
            + (", overdue" if m["overdue"] else ""),
            key=m["key"],
        )
    ax.set_yticks(
        range(len(ms)),
        [svgplot.plain(m["name"] + (f" · {m['owner']}" if m["owner"] else "")) for m in ms],
    )
    for tick, m in zip(ax.get_yticklabels(), ms, strict=True):
        if m["critical"]:
            tick.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(len(ms) - 0.5, -0.5)  # the first milestone on top
    ax.set_xlim(x(first), x(last))
    svgplot.date_axis(ax.xaxis, "%d %b %Y", maxticks=9)
    ax.xaxis.tick_top()
    ax.spines["top"].set_visible(True)
    ax.spines["bottom"].set_visible(False)
    ax.grid(axis="x", color="#eee")
    ax.set_axisbelow(True)

    day_marks = [
        ("today", today, "#555"),
        ("stream", date.fromisoformat(timeline["stream_date"]), "#6a1b9a"),
    ]
    if timeline["deadline"]:
        deadline = date.fromisoformat(timeline["deadline"]) + timedelta(days=1)
        day_marks.append(("stream − buffer", deadline, "#ef6c00"))
    for n, (label, d, colour) in enumerate(day_marks):
        if first <= d <= last:
            line = ax.axvline(x(d), color=colour, linestyle=(0, (4, 3)), linewidth=1.2)
            marks.mark(line, "day-mark", f"{label}: {d.isoformat()}", label=label)
            ax.annotate(
                label,
                xy=(x(d), 0.0),
                xycoords=("data", "axes fraction"),
                xytext=(0, -12 - 12 * n),
                textcoords="offset points",
                ha="center",
                va="top",
                color=colour,
                fontsize=10,
                annotation_clip=False,
            )
    return svgplot.to_svg(
        fig, element_id="gantt", css_class="chart gantt", title=TITLE, marks=marks
    )

"""The report's and the lessons page's charts, drawn by matplotlib as inline SVG
(``web/svgplot.py`` says why and how): no scripts, no external resources, so the report
page, the lessons page and the exported HTML file render anywhere, and print.

- ``sales_chart``: units per bucket as bars, cumulative units as a line (right-hand
  axis), a dashed red marker where each SKU sold out and a green marker at each host
  cue, on a time axis labelled in UTC;
- ``bar_chart``: horizontal grouped bars (sell-through, size curve, funnel), each bar
  labelled with its value.
- ``velocity_chart``: the live monitor's units sold per minute (served and cached by
  ``web/velocity.py``).

What the pages and their tests find in the SVG: ``g.chart-bar`` per bucket,
``g.cumulative``, ``g.sellout`` and ``g.sellout-label`` per sold-out SKU, ``g.cue`` and
``g.cue-label`` per cue, ``g.bar`` per drawn bar; each with a ``<title>`` tooltip."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dropline.web import svgplot

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH, HEIGHT = 1200, 300
SELLOUT, CUE = "#b02a37", "#198754"
BAR_COLOURS = ("#0b5ed7", "#9ec5fe", "#198754", "#fd7e14")


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _clock(value: datetime) -> str:
    """A tooltip's time: ``22:27:17 UTC``."""
    return value.strftime("%H:%M:%S UTC")


def _time_axis(ax: Axes, span: timedelta) -> None:
    """UTC clock labels on the x axis: seconds when the span is short."""
    svgplot.date_axis(ax.xaxis, "%H:%M:%S" if span <= timedelta(minutes=10) else "%H:%M")
    ax.set_xlabel("Time (UTC)")


def _empty(chart_id: str, css_class: str, title: str, message: str, height: int) -> str:
    fig = svgplot.figure(WIDTH, height)
    fig.text(0.5, 0.5, message, ha="center", va="center", color="#666", fontsize=12)
    return svgplot.to_svg(fig, element_id=chart_id, css_class=css_class, title=title)


def sales_chart(
    timeline: dict[str, Any],
    sold_out: Sequence[tuple[str, str]] = (),
    cues: Sequence[tuple[str, str]] = (),
    chart_id: str = "sales-chart",
) -> str:
    """Bars for units per bucket (``timeline["points"]``: ``t`` the bucket's start,
    ``units``, ``cumulative``; ``timeline["bucket_s"]`` the bucket's length), a line for
    cumulative units and, for each SKU that sold out, a dashed marker labelled
    ``<label> sold out`` at the moment it did (``sold_out``: ``(RFC 3339 time, label)``);
    ``cues``: host cues as ``(RFC 3339 time, text)``, solid green markers labelled with
    the cue's first 40 characters. The SVG scales to the width of its box."""
    points = timeline.get("points") or []
    bucket_s = int(timeline.get("bucket_s") or 60)
    title = f"Units sold over time ({bucket_s} s buckets)"
    if not points:
        return _empty(chart_id, "chart", title, "No sales yet", 120)
    from matplotlib.ticker import MaxNLocator

    fig = svgplot.figure(WIDTH, HEIGHT)
    fig.subplots_adjust(left=0.05, right=0.94, top=0.80, bottom=0.16)
    ax = fig.add_subplot()
    marks = svgplot.Marks()
    starts = [_at(p["t"]) for p in points]
    width = timedelta(seconds=bucket_s)
    bars = ax.bar(
        [svgplot.days(t) for t in starts],
        [p["units"] for p in points],
        width=bucket_s / 86400 * 0.8,
        align="edge",
        color="#9ec5fe",
    )
    for bar, t, p in zip(bars.patches, starts, points, strict=True):
        marks.mark(bar, "chart-bar", f"{_clock(t)}: {p['units']} units")
    ax.set_ylabel(f"Units per {bucket_s} s")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    total = ax.twinx()
    total.spines["right"].set_visible(True)
    (line,) = total.plot(
        [svgplot.days(t + width / 2) for t in starts],
        [p["cumulative"] for p in points],
        color="#0b5ed7",
        linewidth=2,
        marker="o",  # a single bucket still shows its point
        markersize=3,
    )
    marks.mark(line, "cumulative", f"Cumulative units: {points[-1]['cumulative']}")
    total.set_ylim(0, max(1, max(p["cumulative"] for p in points)) * 1.05)
    total.yaxis.set_major_locator(MaxNLocator(integer=True))
    total.set_ylabel("Cumulative units")
    # the axis spans the buckets and every marker, so a cue after the last sale shows
    marked = [_at(at) for at, _ in (*sold_out, *cues)]
    first = min([starts[0], *marked])
    last = max([starts[-1] + width, *(m + width / 2 for m in marked)])
    ax.set_xlim(svgplot.days(first), svgplot.days(last))
    _time_axis(ax, last - first)

    right = first + (last - first) * 0.75  # labels of markers past it end at their line
    for n, (at, label) in enumerate(sorted(sold_out)):
        t = _at(at)
        _marker(ax, marks, t, f"{label} sold out", SELLOUT, "sellout", n, top=True, left=t > right)
    for n, (at, text) in enumerate(sorted(cues)):
        t = _at(at)
        _marker(ax, marks, t, text, CUE, "cue", n, top=False, left=t > right)
    return svgplot.to_svg(fig, element_id=chart_id, css_class="chart", title=title, marks=marks)


def _marker(
    ax: Axes,
    marks: svgplot.Marks,
    at: datetime,
    text: str,
    colour: str,
    kind: str,
    n: int,
    *,
    top: bool,
    left: bool,
) -> None:
    """A vertical line at ``at`` (class ``kind``) and its label (``kind-label``): sell-outs
    dashed with labels above the plot, cues solid with labels inside it at the bottom;
    labels take three rows in turn so that neighbours do not collide, and sit to the
    ``left`` of the line near the right edge so that they stay inside the chart."""
    x = svgplot.days(at)
    line = ax.axvline(
        x, color=colour, linewidth=1.3, linestyle=(0, (4, 3)) if top else "solid", zorder=3
    )
    marks.mark(line, kind, f"{text} at {_clock(at)}", at=at.isoformat().replace("+00:00", "Z"))
    label = ax.annotate(
        svgplot.plain(text if top else text[:40]),
        xy=(x, 1.0 if top else 0.0),
        xycoords=("data", "axes fraction"),
        xytext=(-3 if left else 3, 3 + 13 * (n % 3) if top else 4 + 13 * (n % 3)),
        textcoords="offset points",
        ha="right" if left else "left",
        color=colour,
        fontsize=10,
        va="bottom",
        annotation_clip=False,
    )
    marks.mark(label, f"{kind}-label", text)


def bar_chart(
    chart_id: str,
    title: str,
    series: Sequence[str],
    rows: Sequence[tuple[str, Sequence[int | None]]],
) -> str:
    """Horizontal bars: one group per row (its label, then one bar per series, ``None``
    drawn as nothing), all on one scale, each bar labelled with its value; a legend
    names the series."""
    css = "chart bar-chart"
    if not rows:
        return _empty(chart_id, css, title, "Nothing to show yet", 80)
    bar_h, gap, head, foot = 14, 10, 30, 26
    group_h = bar_h * len(series) + gap
    height = head + len(rows) * group_h + foot
    fig = svgplot.figure(WIDTH, height)
    fig.subplots_adjust(left=0.2, right=0.95, top=1 - head / height, bottom=foot / height)
    ax = fig.add_subplot()
    marks = svgplot.Marks()
    for i, name in enumerate(series):
        drawn = [(r, label, v) for r, (label, vs) in enumerate(rows) if (v := vs[i]) is not None]
        bars = ax.barh(
            [r * group_h + i * bar_h for r, _, _ in drawn],
            [v for _, _, v in drawn],
            height=bar_h - 2,
            align="edge",
            color=BAR_COLOURS[i % len(BAR_COLOURS)],
            label=svgplot.plain(name),
        )
        for bar, (_, label, v) in zip(bars.patches, drawn, strict=True):
            marks.mark(bar, "bar", f"{label}, {name}: {v}")
        ax.bar_label(bars, padding=3, fontsize=10, color="#333")
    ax.set_yticks(
        [r * group_h + bar_h * len(series) / 2 for r in range(len(rows))],
        [svgplot.plain(label[:34]) for label, _ in rows],
    )
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(len(rows) * group_h - gap / 2, -gap / 2)  # first row on top
    top = max([1] + [v for _, vs in rows for v in vs if v is not None])
    ax.set_xlim(0, top * 1.06)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(
        loc="lower left",
        bbox_to_anchor=(0, 1),
        ncols=len(series),
        frameon=False,
        fontsize=11,
        borderaxespad=0.2,
    )
    return svgplot.to_svg(fig, element_id=chart_id, css_class=css, title=title, marks=marks)


def velocity_chart(points: Sequence[dict[str, Any]], chart_id: str = "velocity-chart") -> str:
    """The live monitor's units sold per minute: one bar (``g.chart-bar``, with
    ``data-t`` and ``data-units``) per minute bucket that sold something, on a UTC
    clock axis spanning every bucket of ``points`` (``t`` the minute's start as RFC 3339,
    ``units``), so a quiet minute shows as a gap. The root carries ``data-total``, the
    units in the chart."""
    title = "Units sold per minute (UTC)"
    total = sum(int(p["units"]) for p in points)
    if not points:
        return _empty(chart_id, "chart wide-chart", title, "No minutes yet", 120)
    from matplotlib.ticker import MaxNLocator

    fig = svgplot.figure(WIDTH, 200)
    fig.subplots_adjust(left=0.05, right=0.98, top=0.92, bottom=0.24)
    ax = fig.add_subplot()
    marks = svgplot.Marks()
    width = timedelta(minutes=1)
    starts = [_at(p["t"]) for p in points]
    sold = [(t, int(p["units"])) for t, p in zip(starts, points, strict=True) if p["units"]]
    bars = ax.bar(
        [svgplot.days(t) for t, _ in sold],
        [n for _, n in sold],
        width=60 / 86400 * 0.8,
        align="edge",
        color="#0b5ed7",
    )
    for bar, (t, n) in zip(bars.patches, sold, strict=True):
        stamp = t.isoformat().replace("+00:00", "Z")
        marks.mark(bar, "chart-bar", f"{t:%H:%M} UTC: {n} units", t=stamp, units=str(n))
    ax.set_xlim(svgplot.days(starts[0]), svgplot.days(starts[-1] + width))
    ax.set_ylim(0, max([1, *(n for _, n in sold)]) * 1.1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("Units / min")
    svgplot.date_axis(ax.xaxis, "%H:%M")
    ax.set_xlabel("Time (UTC)")
    return svgplot.to_svg(
        fig,
        element_id=chart_id,
        css_class="chart wide-chart",
        title=title,
        marks=marks,
        attrs={"data-total": str(total)},
    )

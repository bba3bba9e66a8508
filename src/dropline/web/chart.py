"""Charts as inline SVG: no scripts, no external resources, so the report page, the
lessons page and the exported HTML file render anywhere (and print). The sales-over-time
chart (with sell-out and host-cue markers) and horizontal bar charts (sell-through, size
curve, funnel)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

WIDTH, HEIGHT = 1200, 280
PAD_L, PAD_R, PAD_T, PAD_B = 48, 16, 40, 32


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _clock(value: str) -> str:
    """``2026-12-06T22:27:17.091065Z`` → ``22:27:17 UTC`` (an axis label)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%H:%M:%S UTC")


def sales_chart(
    timeline: dict[str, Any],
    sold_out: Sequence[tuple[str, str]] = (),
    cues: Sequence[tuple[str, str]] = (),
    chart_id: str = "sales-chart",
) -> str:
    """Bars for units per bucket, a line for cumulative units and, for each SKU that sold
    out, a dashed marker at the moment it did (``sold_out``: ``(RFC 3339 time, label)``);
    ``cues``: host cues as ``(RFC 3339 time, text)``, solid green markers.
    The SVG scales to the width of its box (CSS ``width: 100%``)."""
    points = timeline.get("points") or []
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="xMidYMid meet" role="img" '
        f'aria-label="Units sold over time">'
    )
    if not points:
        return (
            head + f'<text x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle" '
            'fill="#666">No sales yet</text></svg>'
        )
    plot_w = WIDTH - PAD_L - PAD_R
    plot_h = HEIGHT - PAD_T - PAD_B
    n = len(points)
    top = max(1, max(p["cumulative"] for p in points))
    bar_top = max(1, max(p["units"] for p in points))
    step = plot_w / n
    parts = [head, f"<title>Units sold over time ({timeline['bucket_s']} s buckets)</title>"]
    parts.append(
        f'<line x1="{PAD_L}" y1="{PAD_T + plot_h}" x2="{WIDTH - PAD_R}" y2="{PAD_T + plot_h}" '
        'stroke="#999"/>'
    )
    for i, p in enumerate(points):
        h = plot_h * p["units"] / bar_top * 0.6
        x = PAD_L + i * step
        parts.append(
            f'<rect class="chart-bar" x="{x + step * 0.1:.1f}" y="{PAD_T + plot_h - h:.1f}" '
            f'width="{max(step * 0.8, 1):.1f}" height="{h:.1f}" fill="#9ec5fe">'
            f"<title>{escape(str(p['t']))}: {p['units']} units</title></rect>"
        )
    coords = " ".join(
        f"{PAD_L + (i + 0.5) * step:.1f},{PAD_T + plot_h - plot_h * p['cumulative'] / top:.1f}"
        for i, p in enumerate(points)
    )
    parts.append(
        f'<polyline class="cumulative" points="{coords}" fill="none" stroke="#0b5ed7" '
        'stroke-width="2"/>'
    )
    parts.append(
        f'<text x="{PAD_L - 6}" y="{PAD_T + 10}" text-anchor="end" font-size="11" '
        f'fill="#333">{top}</text>'
        f'<text x="{PAD_L - 6}" y="{PAD_T + plot_h}" text-anchor="end" font-size="11" '
        'fill="#333">0</text>'
        f'<text x="{PAD_L}" y="{HEIGHT - 8}" font-size="11" fill="#333">'
        f"{escape(_clock(points[0]['t']))}</text>"
        f'<text x="{WIDTH - PAD_R}" y="{HEIGHT - 8}" text-anchor="end" font-size="11" '
        f'fill="#333">{escape(_clock(points[-1]["t"]))}</text>'
    )
    t0 = _ts(points[0]["t"])
    span = max(1.0, _ts(points[-1]["t"]) + timeline["bucket_s"] - t0)
    for n, (at, label) in enumerate(sorted(sold_out)):
        x = PAD_L + plot_w * min(1.0, max(0.0, (_ts(at) - t0) / span))
        y = PAD_T - 26 + 12 * (n % 3)  # three rows of labels, so neighbours do not collide
        parts.append(
            f'<g class="sellout"><line x1="{x:.1f}" y1="{y + 3}" x2="{x:.1f}" '
            f'y2="{PAD_T + plot_h}" stroke="#b02a37" stroke-dasharray="4 3"/>'
            f'<text x="{x + 3:.1f}" y="{y}" font-size="11" fill="#b02a37">'
            f"{escape(label)} sold out</text>"
            f"<title>{escape(label)} sold out at {escape(at)}</title></g>"
        )
    for n, (at, text) in enumerate(sorted(cues)):
        x = PAD_L + plot_w * min(1.0, max(0.0, (_ts(at) - t0) / span))
        y = PAD_T + plot_h - 4 - 12 * (n % 3)
        parts.append(
            f'<g class="cue"><line x1="{x:.1f}" y1="{PAD_T}" x2="{x:.1f}" '
            f'y2="{PAD_T + plot_h}" stroke="#198754" stroke-width="1.5"/>'
            f'<text x="{x + 3:.1f}" y="{y}" font-size="11" fill="#198754">'
            f"{escape(text[:40])}</text>"
            f"<title>{escape(text)} at {escape(at)}</title></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


BAR_COLOURS = ("#0b5ed7", "#9ec5fe", "#198754", "#fd7e14")


def bar_chart(
    chart_id: str,
    title: str,
    series: Sequence[str],
    rows: Sequence[tuple[str, Sequence[int | None]]],
) -> str:
    """Horizontal bars: one group per row (its label, then one bar per series, ``None``
    drawn as nothing), all on one scale, each bar labelled with its value."""
    bar_h, gap, label_w, right = 14, 10, 220, 60
    group_h = bar_h * len(series) + gap
    legend_h = 22
    height = legend_h + max(1, len(rows)) * group_h + 8
    top = max([1] + [v for _, vs in rows for v in vs if v is not None])
    plot_w = WIDTH - label_w - right
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bar-chart" '
        f'id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, name in enumerate(series):
        x = label_w + i * 160
        colour = BAR_COLOURS[i % len(BAR_COLOURS)]
        parts.append(
            f'<rect x="{x}" y="4" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="14" font-size="12" fill="#333">{escape(name)}</text>'
        )
    if not rows:
        parts.append(
            f'<text x="{WIDTH // 2}" y="{legend_h + 14}" text-anchor="middle" fill="#666">'
            "Nothing to show yet</text>"
        )
    for r, (label, values) in enumerate(rows):
        y0 = legend_h + r * group_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y0 + group_h / 2:.1f}" text-anchor="end" '
            f'font-size="12" fill="#333">{escape(label[:34])}</text>'
        )
        for i, v in enumerate(values):
            if v is None:
                continue
            w = plot_w * v / top
            y = y0 + i * bar_h
            colour = BAR_COLOURS[i % len(BAR_COLOURS)]
            parts.append(
                f'<rect class="bar" x="{label_w}" y="{y}" width="{max(w, 1):.1f}" '
                f'height="{bar_h - 2}" fill="{colour}"><title>{escape(label)}, '
                f"{escape(series[i])}: {v}</title></rect>"
                f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 4}" font-size="11" '
                f'fill="#333">{v}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)

"""The sales-over-time chart as inline SVG: no scripts, no external resources, so the
report page and the exported HTML file render anywhere (and print)."""

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


def sales_chart(timeline: dict[str, Any], sold_out: Sequence[tuple[str, str]] = ()) -> str:
    """Bars for units per bucket, a line for cumulative units and, for each SKU that sold
    out, a dashed marker at the moment it did (``sold_out``: ``(RFC 3339 time, label)``).
    The SVG scales to the width of its box (CSS ``width: 100%``)."""
    points = timeline.get("points") or []
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="sales-chart" '
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
    parts.append("</svg>")
    return "".join(parts)

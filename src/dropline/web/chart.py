"""The sales-over-time chart as inline SVG: no scripts, no external resources, so the
report page and the exported HTML file render anywhere (and print)."""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, HEIGHT = 720, 240
PAD_L, PAD_R, PAD_T, PAD_B = 48, 16, 16, 32


def sales_chart(timeline: dict[str, Any]) -> str:
    """Bars for units per bucket and a line for cumulative units."""
    points = timeline.get("points") or []
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="sales-chart" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
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
        f"{escape(str(points[0]['t']))}</text>"
        f'<text x="{WIDTH - PAD_R}" y="{HEIGHT - 8}" text-anchor="end" font-size="11" '
        f'fill="#333">{escape(str(points[-1]["t"]))}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)

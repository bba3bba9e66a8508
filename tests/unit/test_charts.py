"""The charts drawn by matplotlib (web/chart.py, web/gantt.py through web/svgplot.py):
what the pages and their readers rely on — one bar per bucket, one marker per sold-out
SKU and per cue with its label, UTC clock labels, one Gantt bar per milestone with the
critical path marked — and that the SVG is safe to inline: no script, nothing fetched,
an accessible name, no fixed size and no element id that two charts on a page share."""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from datetime import date

from dropline.web.chart import bar_chart, sales_chart, velocity_chart
from dropline.web.gantt import gantt_svg
from dropline.web.velocity import VelocityCharts

NS = {"s": "http://www.w3.org/2000/svg"}
TIMELINE = {
    "bucket_s": 60,
    "points": [
        {"t": "2026-01-01T20:00:00Z", "units": 2, "cumulative": 2},
        {"t": "2026-01-01T20:01:00Z", "units": 5, "cumulative": 7},
        {"t": "2026-01-01T20:02:00Z", "units": 0, "cumulative": 7},
        {"t": "2026-01-01T20:03:00Z", "units": 1, "cumulative": 8},
    ],
}


def parse(svg: str) -> ET.Element:
    """The SVG as XML: it must be well-formed on its own (the exported report is a file)."""
    return ET.fromstring(svg)


def groups(root: ET.Element, css: str) -> list[ET.Element]:
    return [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == css]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


def assert_inline_safe(svg: str, chart_id: str) -> ET.Element:
    root = parse(svg)
    assert root.get("id") == chart_id and root.get("role") == "img"
    assert root.get("width") is None and root.get("height") is None  # scales to its box
    title = root.find("s:title", NS)
    assert title is not None and title.text and root.get("aria-label") == title.text
    assert "<script" not in svg and "xlink" not in svg
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert ids[0] == chart_id and all(not re.fullmatch(r"[a-z0-9]+_\d+", i or "") for i in ids)
    # the only page-wide style matplotlib writes is scoped to this chart
    assert all(
        s.text and s.text.startswith(f"#{chart_id} ") for s in root.iter(f"{{{NS['s']}}}style")
    )
    return root


def test_sales_chart_has_a_bar_per_bucket_markers_and_utc_labels() -> None:
    svg = sales_chart(
        TIMELINE,
        sold_out=[("2026-01-01T20:02:30Z", "Tee — M"), ("2026-01-01T20:01:10Z", "Tee — S")],
        cues=[("2026-01-01T20:01:00Z", "pin: Pinned the tee, the one with the long name")],
    )
    root = assert_inline_safe(svg, "sales-chart")
    bars = groups(root, "chart-bar")
    assert [b.findtext("s:title", namespaces=NS) for b in bars] == [
        "20:00:00 UTC: 2 units", "20:01:00 UTC: 5 units",
        "20:02:00 UTC: 0 units", "20:03:00 UTC: 1 units",
    ]  # fmt: skip
    assert len(groups(root, "cumulative")) == 1
    outs = groups(root, "sellout")
    assert [g.get("data-at") for g in outs] == ["2026-01-01T20:01:10Z", "2026-01-01T20:02:30Z"]
    labels = [texts(g) for g in groups(root, "sellout-label")]
    assert labels == [["Tee — S sold out"], ["Tee — M sold out"]]
    (cue,) = groups(root, "cue")
    assert cue.findtext("s:title", namespaces=NS) == (
        "pin: Pinned the tee, the one with the long name at 20:01:00 UTC"
    )
    assert [texts(g) for g in groups(root, "cue-label")] == [
        ["pin: Pinned the tee, the one with the lo"]
    ]
    words = texts(root)
    assert "Time (UTC)" in words and "20:00:00" in words and "20:02:00" in words


def test_a_cue_after_the_last_bucket_is_inside_the_plot() -> None:
    svg = sales_chart(TIMELINE, cues=[("2026-01-01T20:09:00Z", "mention: Last call")])
    (cue,) = groups(parse(svg), "cue")
    path = cue.find("s:path", NS)
    assert path is not None
    x = float((path.get("d") or "").split()[1])
    # the plot's x axis runs from 5 % to 94 % of the 1200 units; the cue is its last thing
    assert 1200 * 0.05 < x < 1200 * 0.94 and x > 1200 * 0.8


def test_a_dollar_sign_is_text_not_mathematics() -> None:
    svg = sales_chart(TIMELINE, [("2026-01-01T20:01:00Z", "Tee $5 and $6")])
    assert texts(groups(parse(svg), "sellout-label")[0]) == ["Tee $5 and $6 sold out"]


def test_empty_charts_say_so() -> None:
    assert "No sales yet" in texts(parse(sales_chart({"bucket_s": 60, "points": []})))
    svg = bar_chart("funnel", "Funnel", ("Views",), [])
    assert "Nothing to show yet" in texts(assert_inline_safe(svg, "funnel"))


def test_two_charts_on_one_page_share_no_element_id() -> None:
    a = sales_chart(TIMELINE, chart_id="cue-chart-a")
    b = sales_chart(TIMELINE, chart_id="cue-chart-b")
    ids_a = set(re.findall(r'\sid="([^"]+)"', a))
    ids_b = set(re.findall(r'\sid="([^"]+)"', b))
    assert "cue-chart-a" in ids_a and len(ids_a) > 1 and not ids_a & ids_b


def test_bar_chart_draws_a_labelled_bar_per_value_and_nothing_for_none() -> None:
    svg = bar_chart(
        "funnel-chart",
        "Funnel",
        ("Views", "Held", "Paid"),
        [("Whole drop", (100, 40, 30)), ("Tee — S", (50, None, 10))],
    )
    root = assert_inline_safe(svg, "funnel-chart")
    assert "chart" in (root.get("class") or "") and "bar-chart" in (root.get("class") or "")
    tips = [b.findtext("s:title", namespaces=NS) for b in groups(root, "bar")]
    assert sorted(tips) == sorted(  # type: ignore[type-var]
        [
            "Whole drop, Views: 100", "Tee — S, Views: 50", "Whole drop, Held: 40",
            "Whole drop, Paid: 30", "Tee — S, Paid: 10",
        ]
    )  # fmt: skip
    words = texts(root)
    for word in ("Views", "Held", "Paid", "Whole drop", "Tee — S", "100", "40", "30", "50", "10"):
        assert word in words, word


def _milestone(key: str, start: str, finish: str, latest: str, **kw: object) -> dict[str, object]:
    return {
        "key": key,
        "name": key.replace("_", " ").capitalize(),
        "owner": "",
        "critical": False,
        "done": False,
        "overdue": False,
        "earliest_start": start,
        "earliest_finish": finish,
        "latest_finish": latest,
        "actual_finish": None,
        "slack_days": 0,
        **kw,
    }


def test_gantt_has_a_bar_per_milestone_critical_path_slack_and_day_marks() -> None:
    timeline = {
        "start_date": "2027-01-01",
        "stream_date": "2027-01-28",
        "deadline": "2027-01-21",
        "milestones": [
            _milestone("design_freeze", "2027-01-01", "2027-01-04", "2027-01-04", critical=True,
                       done=True, actual_finish="2027-01-03"),
            _milestone("sample_approval", "2027-01-05", "2027-01-09", "2027-01-09", critical=True,
                       overdue=True, owner="Ann"),
            _milestone("packaging_proof", "2027-01-05", "2027-01-07", "2027-01-15", slack_days=8),
            _milestone("rehearsal", "2027-01-10", "2027-01-20", "2027-01-20", critical=True),
        ],
    }  # fmt: skip
    svg = gantt_svg(timeline, date(2027, 1, 7))
    root = assert_inline_safe(svg, "gantt")
    bars = [g for g in root.iter(f"{{{NS['s']}}}g") if "bar" in (g.get("class") or "").split()]
    assert [(g.get("data-key"), g.get("class")) for g in bars] == [
        ("design_freeze", "bar done"),
        ("sample_approval", "bar critical overdue"),
        ("packaging_proof", "bar normal"),
        ("rehearsal", "bar critical"),
    ]
    (slack,) = groups(root, "slack")
    assert slack.findtext("s:title", namespaces=NS) == "slack 8 days, latest finish 2027-01-15"
    assert [g.get("data-label") for g in groups(root, "day-mark")] == [
        "today", "stream", "stream − buffer",
    ]  # fmt: skip
    words = texts(root)
    assert "Sample approval · Ann" in words and "today" in words and "01 Jan 2027" in words
    bold = re.findall(r"<text style=\"[^\"]*font-weight: 700[^\"]*\"[^>]*>([^<]+)<", svg)
    assert sorted(w.strip() for w in bold) == [
        "Design freeze", "Rehearsal", "Sample approval · Ann",
    ]  # fmt: skip
    assert "No milestones" in texts(
        parse(gantt_svg({**timeline, "milestones": []}, date(2027, 1, 7)))
    )


def test_velocity_chart_has_a_bar_per_minute_that_sold() -> None:
    points = [
        {"t": f"2026-01-01T20:{m:02d}:00Z", "units": n} for m, n in enumerate([0, 3, 0, 5, 1])
    ]
    root = assert_inline_safe(velocity_chart(points), "velocity-chart")
    bars = groups(root, "chart-bar")
    assert [(b.get("data-t"), b.get("data-units")) for b in bars] == [
        ("2026-01-01T20:01:00Z", "3"),
        ("2026-01-01T20:03:00Z", "5"),
        ("2026-01-01T20:04:00Z", "1"),
    ]
    assert root.get("data-total") == "9"
    assert "20:01 UTC: 3 units" in [b.findtext("s:title", namespaces=NS) for b in bars]
    assert "Time (UTC)" in texts(root)


async def test_velocity_cache_renders_once_for_concurrent_viewers() -> None:
    """Many monitors asking at once for a stale chart wait for one render; a change within
    5 s is not drawn; after 5 s it is; an unchanged chart is never redrawn."""
    now = [0.0]
    charts = VelocityCharts(clock=lambda: now[0])
    points = [{"t": "2026-01-01T20:00:00Z", "units": 2}]
    asked = 0

    async def current() -> list[dict[str, object]]:
        nonlocal asked
        asked += 1
        return [dict(p) for p in points]

    first = await asyncio.gather(*(charts.svg("d1", current) for _ in range(10)))
    assert charts.renders == 1 and asked == 1 and len(set(first)) == 1
    points[0]["units"] = 7
    now[0] = 4.9
    assert await charts.svg("d1", current) == first[0] and charts.renders == 1
    now[0] = 5.0
    assert 'data-total="7"' in await charts.svg("d1", current) and charts.renders == 2
    now[0] = 20.0
    await charts.svg("d1", current)
    assert charts.renders == 2 and asked == 3  # looked, unchanged: not drawn
    await charts.svg("d2", current)
    assert charts.renders == 3  # per drop

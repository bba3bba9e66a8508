"""The report reads headline first: the results, then the full-width chart with a
marker where each SKU sold out, then the audit; "returned" means buyers' returns only."""

from __future__ import annotations

import re

from dropline.bootstrap import Container
from dropline.domain.live.drops import DropStatus
from dropline.web.chart import sales_chart
from dropline.web.render import report_html
from fulfilment_support import paid_order
from support import seed_shop


async def test_headline_then_chart_with_sellouts_then_audit(container: Container) -> None:
    shop = await seed_shop(container, units=2, skus=2)
    await paid_order(container, shop, "ann", 2)  # the first SKU sells out
    await container.drops.transition(shop.drop_id, DropStatus.ENDED)
    report = await container.reports.build(shop.drop_id)
    html = report_html(report)
    order = [html.index(x) for x in ('id="headline"', 'id="sales-chart"', 'id="audit"')]
    assert order == sorted(order)
    headline = html[order[0] : order[1]]
    assert "USD 50.00" in headline and "1 of 2" in headline and "Tee — S0" in headline
    chart = html[order[1] : order[2]]
    assert chart.count('class="sellout"') == 1 and "Tee — S0 sold out" in chart
    assert 'width="720"' not in chart  # scales to its box
    units = next(c for c in report["reconciliation"] if c["scope"] == "all SKUs")
    assert [p["name"] for p in units["right"]][:2] == ["sold", "unsold, back in stock"]
    assert "returned to stock" not in html


def test_sellout_markers_sit_where_the_sku_sold_out() -> None:
    timeline = {
        "bucket_s": 60,
        "points": [
            {"t": "2026-01-01T00:00:00Z", "units": 1, "cumulative": 1},
            {"t": "2026-01-01T00:01:00Z", "units": 3, "cumulative": 4},
        ],
    }
    svg = sales_chart(timeline, [("2026-01-01T00:01:00Z", "Hoodie — Black / M")])
    assert svg.count('class="sellout"') == 1 and svg.count('class="sellout-label"') == 1
    marker = svg.split('class="sellout" data-at="2026-01-01T00:01:00Z">')[1]
    assert marker.startswith("<title>Hoodie — Black / M sold out at 00:01:00 UTC</title>")
    # the marker's line is vertical, halfway along the plot (x axis from 5 % to 94 %)
    x1, _, x2 = re.search(r'd="M ([\d.]+) [\d.]+\s+L ([\d.]+) ', marker).group(1, 0, 2)  # type: ignore[union-attr]
    assert float(x1) == float(x2) and abs(float(x1) - 1200 * (0.05 + 0.94) / 2) < 1
    assert "Hoodie — Black / M sold out</text>" in svg.split('class="sellout-label"')[1]

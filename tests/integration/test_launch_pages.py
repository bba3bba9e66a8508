"""The /ui launch pages in process on both backends: login, the list and create form,
the launch page with its Gantt chart (critical path and slack), recording a milestone
with CSRF, alerts, and the calendar download."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dropline.api.app import create_app
from dropline.bootstrap import Container


@pytest.fixture
async def ui(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def _login(http: httpx.AsyncClient, c: Container) -> str:
    key, _ = await c.access.create_key("ops-lee", "ops")
    form = await http.get("/ui/login")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = await http.post("/ui/login", data={"api_key": key, "csrf_token": token})
    assert r.status_code == 303
    page = await http.get("/ui/launches")
    return page.text.split('name="csrf_token" value="')[1].split('"')[0]


async def test_launch_pages(ui: httpx.AsyncClient, container: Container) -> None:
    for path in ("/ui/launches", "/ui/launches/lch_x", "/ui/launches/lch_x/calendar.ics"):
        r = await ui.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    csrf = await _login(ui, container)
    today = datetime.fromtimestamp(container.clock.now(), UTC).date()
    stream = (today + timedelta(days=90)).isoformat()

    forged = await ui.post(
        "/ui/launches", data={"csrf_token": "x", "name": "Hoodie", "stream_date": stream}
    )
    assert forged.status_code == 403
    assert (await container.launches.launches()) == []
    r = await ui.post(
        "/ui/launches",
        data={"csrf_token": csrf, "name": "Hoodie", "stream_date": stream, "buffer_days": "7"},
    )
    assert r.status_code == 303
    lid = r.headers["location"].rsplit("/", 1)[1]
    page = await ui.get(f"/ui/launches/{lid}")
    assert page.status_code == 200 and 'href="/ui/launches"' in page.text
    html = page.text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart gantt" id="gantt"' in html
    critical = re.findall(r'class="bar critical" data-key="(\w+)"', html)
    assert critical == [
        "design_freeze", "sample_approval", "production_start", "inline_qc", "final_qc",
        "freight_arrival", "warehouse_intake", "count_and_staging", "rehearsal",
    ]  # fmt: skip
    assert 'class="bar normal" data-key="packaging_proof"' in html
    assert html.count('class="slack"') == 11 and "slack 24 days" in html
    assert "feasible" in html and "20 days of slack" in html and "Stress test" in html
    assert "<script>" not in html and "<script " not in html.split("<main>")[1].split("</main>")[0]

    # Record design freeze; a bad date is refused with a message and changes nothing.
    bad = await ui.post(
        f"/ui/launches/{lid}/milestones/design_freeze",
        data={"csrf_token": csrf, "actual_finish": "yesterday"},
    )
    assert bad.status_code == 303 and "level=error" in bad.headers["location"]
    future = (today + timedelta(days=3)).isoformat()
    bad = await ui.post(
        f"/ui/launches/{lid}/milestones/design_freeze",
        data={"csrf_token": csrf, "actual_finish": future},
    )
    assert "cannot%20be%20in%20the%20future" in bad.headers["location"]
    assert not (await container.launches.timeline(lid))["milestones"][0]["done"]
    ok = await ui.post(
        f"/ui/launches/{lid}/milestones/design_freeze",
        data={"csrf_token": csrf, "actual_finish": today.isoformat()},
    )
    assert ok.status_code == 303 and "level=info" in ok.headers["location"]
    html = (await ui.get(f"/ui/launches/{lid}")).text
    assert 'class="bar done" data-key="design_freeze"' in html

    # Design freeze was done on day 0, so sample approval is due day 14 and packaging
    # proof day 10; on day 20 neither is recorded: the page shows both alerts.
    container.clock._now += 20 * 86400  # type: ignore[attr-defined]
    expired = await ui.get(f"/ui/launches/{lid}")  # 20 days on, the 12-hour session is over
    assert expired.status_code == 303 and expired.headers["location"].startswith("/ui/login")
    await _login(ui, container)
    html = (await ui.get(f"/ui/launches/{lid}")).text
    assert html.count('role="alert"') == 2 and "overdue since" in html

    ics = await ui.get(f"/ui/launches/{lid}/calendar.ics")
    assert ics.status_code == 200 and ics.text.count("BEGIN:VEVENT") == 12
    listed = await ui.get("/ui/launches")
    assert lid in listed.text and "not scored" in listed.text

"""The web pages against a real server process, driven by headless Chromium (the system
binary, never a downloaded one) through Playwright; plus login, CSRF and stream access
rules over plain HTTP. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from dropline.cli.live.simulation import Simulation, Summary, check_target
from dropline.domain.errors import InvalidInput
from monitor_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    SECRET,
    Server,
    require_chromium,
    server,
)

__all__ = ["server"]  # the fixture, re-exported for pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def login(browser: Browser, server: Server, key: str, next_path: str = "/ui") -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    page.goto(f"{server.url}{next_path}")
    expect(page).to_have_url(f"{server.url}/ui/login?next={quote(next_path)}")
    page.fill("#api_key", key)
    page.click("#login")
    return page


@pytest.mark.browser
def test_monitor_updates_live_and_pause_refuses_holds(browser: Browser, server: Server) -> None:
    drop = server.drops["monitor"]
    medium, large = drop.skus["Black / M"], drop.skus["Black / L"]
    page = login(browser, server, server.ops_key, f"/ui/drops/{drop.id}")
    expect(page.locator("h1")).to_contain_text("Monitor drop")
    expect(page.locator("#live-state")).to_have_text("connected")
    row = page.locator(f'tr[data-sku="{medium}"]')
    expect(row.locator('[data-f="held"]')).to_have_text("0")

    # Another client places holds; the open page shows them without a reload.
    assert server.hold(drop.id, "viewer-1", medium, 3).status_code == 201
    assert server.hold(drop.id, "viewer-2", medium, 2).status_code == 201
    expect(row.locator('[data-f="held"]')).to_have_text("5")
    expect(row.locator('[data-f="remaining"]')).to_have_text("15")
    assert server.buy(drop.id, "viewer-3", large, 4).status_code == 201
    expect(page.locator(f'tr[data-sku="{large}"] [data-f="sold"]')).to_have_text("4")
    expect(page.locator("#t-sold")).to_have_text("4")
    # The velocity chart, drawn on the server, is fetched again after the change (it may
    # be up to 5 s old on the server, so it comes 5.5 s after the sale): 4 units in bars.
    chart = page.locator("svg#velocity-chart")
    expect(chart).to_have_attribute("data-total", "4", timeout=20_000)
    bars = chart.locator("g.chart-bar")
    assert bars.count() >= 1
    assert sum(int(b.get_attribute("data-units") or 0) for b in bars.all()) == 4
    assert chart.locator("text", has_text="Time (UTC)").count() == 1
    page.screenshot(path=str(ARTIFACTS / "monitor-live.png"), full_page=True)

    # Pause Black / M from the page: the engine refuses a new hold with 409.
    row.locator("button.sku-toggle").click()
    expect(page.locator(".flash")).to_contain_text("Black / M paused")
    expect(page.locator(f'tr[data-sku="{medium}"] button.sku-toggle')).to_have_text("Resume")
    expect(page.locator(f'tr[data-sku="{medium}"] .paused-badge')).to_be_visible()
    refused = server.hold(drop.id, "viewer-4", medium)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "drop_not_live"
    assert server.hold(drop.id, "viewer-4", large).status_code == 201  # the other SKU sells
    page.screenshot(path=str(ARTIFACTS / "monitor-paused.png"), full_page=True)

    # Resumed by another client through the API: the open page follows without a reload.
    with server.client(server.ops_key) as api:
        assert api.post(f"/v1/drops/{drop.id}/skus/{medium}/resume").status_code == 200
    expect(page.locator(f'tr[data-sku="{medium}"] button.sku-toggle')).to_have_text("Pause")
    expect(page.locator(f'tr[data-sku="{medium}"] .paused-badge')).to_be_hidden()
    assert server.hold(drop.id, "viewer-5", medium).status_code == 201
    page.close()


def ended_drop(server: Server) -> tuple[str, str]:
    """A drop of its own (one SKU, 2 of 5 received units offered) that went live and
    ended, made over the API. Returns (drop id, SKU id)."""
    with server.client(server.admin_key) as api:
        product = api.post("/v1/products", json={"name": "Reopen Tee"}).json()["id"]
        sku = api.post(
            f"/v1/products/{product}/skus",
            json={"code": "RE-TEE-M", "price": {"amount": 2500, "currency": "USD"}},
        ).json()["id"]
        assert api.post(f"/v1/stock/{sku}/receipts", json={"quantity": 5}).status_code == 201
        drop = api.post("/v1/drops", json={"name": "Reopen drop", "currency": "USD"}).json()["id"]
        assert api.put(f"/v1/drops/{drop}/offers/{sku}", json={"quantity": 2}).is_success
        for body in (
            {"to": "scheduled"},
            {"to": "live", "override_reason": "a practice drop for the monitor"},
            {"to": "ended"},
        ):
            r = api.post(f"/v1/drops/{drop}/transitions", json=body)
            assert r.status_code == 200, r.text
    return drop, sku


@pytest.mark.browser
def test_an_ended_drops_monitor_goes_live_when_a_wave_reopens_it(
    browser: Browser, server: Server
) -> None:
    """The monitor of an ended drop shows final numbers and nothing streams. A restock
    wave planned on the drop reopens it (the server's job applies it): the open page
    turns into the live monitor by itself, connected, and follows a hold."""
    drop, sku = ended_drop(server)
    page = login(browser, server, server.ops_key, f"/ui/drops/{drop}")
    expect(page.locator("#clock")).to_contain_text("Ended")
    expect(page.locator("#live-state")).to_have_count(0)
    with server.client(server.ops_key) as api:
        r = api.post(f"/v1/drops/{drop}/restocks", json={"sku_id": sku, "quantity": 3})
        assert r.status_code == 201 and r.json()["reopens"] is True, r.text
    expect(page.locator("#drop-status")).to_have_text("live", timeout=20_000)
    expect(page.locator("#live-state")).to_have_text("connected")
    expect(page.locator("#clock-text")).to_contain_text("Live for")
    row = page.locator(f'tr[data-sku="{sku}"]')
    expect(row.locator('[data-f="remaining"]')).to_have_text("3")
    assert server.hold(drop, "viewer-1", sku, 2).status_code == 201
    expect(row.locator('[data-f="held"]')).to_have_text("2")
    page.close()


@pytest.mark.browser
def test_orders_page_cancels_an_unshipped_order(browser: Browser, server: Server) -> None:
    drop = server.drops["orders"]
    bought = server.buy(drop.id, "olive", drop.skus["Black / M"], 2)
    assert bought.status_code == 201, bought.text
    order_id = bought.json()["order"]["id"]
    page = login(browser, server, server.ops_key, "/ui/orders")
    expect(page.locator("h1")).to_have_text("Orders")
    page.select_option('select[name="drop_id"]', drop.id)
    page.click("form.filters button")
    row = page.locator("tr", has=page.locator(f"code:text('{order_id}')"))
    expect(row.locator(".status")).to_have_text("paid")
    expect(row).to_contain_text("2 ×")
    expect(row).to_contain_text("Orders drop")  # the drop's name, not its id
    page.screenshot(path=str(ARTIFACTS / "orders.png"), full_page=True)
    row.locator("summary", has_text="Actions").click()
    row.locator('input[name="reason"]').fill("address undeliverable")
    row.locator("button", has_text="Cancel & refund").click()
    expect(page.locator(".flash")).to_contain_text(f"order {order_id}: refunded")
    with server.client(server.ops_key) as api:
        order = api.get(f"/v1/orders/{order_id}").json()
    assert order["status"] == "refunded"
    assert order["refunded_amount"] == order["total"]["amount"] > 0
    page.close()


@pytest.mark.browser
def test_report_page_renders_with_chart(browser: Browser, server: Server) -> None:
    drop = server.drops["report"]
    for n, (label, qty) in enumerate([("Black / M", 2), ("Black / L", 1), ("Black / M", 1)]):
        assert server.buy(drop.id, f"buyer-{n}", drop.skus[label], qty).status_code == 201
    page = login(browser, server, server.admin_key, f"/ui/drops/{drop.id}/report")
    expect(page.locator("h1")).to_contain_text("Report drop — report")
    expect(page.locator("#balanced")).to_have_text("balanced")
    chart = page.locator("svg#sales-chart")
    expect(chart).to_be_visible()
    assert chart.locator("g.chart-bar").count() >= 1
    assert chart.locator("g.cumulative").count() == 1  # the line (its points drawn as marks)
    assert chart.locator("text", has_text="Time (UTC)").count() == 1
    expect(page.locator("table.recon tr.bad")).to_have_count(0)
    expect(page.locator("#h-units")).to_have_text("4")
    expect(page.locator("#headline")).to_contain_text("of 40 offered")
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    page.close()


def test_pages_need_a_login_and_an_ops_key(server: Server) -> None:
    with httpx.Client(base_url=server.url, follow_redirects=False) as http:
        for path in ("/ui", f"/ui/drops/{server.drops['monitor'].id}"):
            r = http.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
        assert http.get(f"/ui/drops/{server.drops['monitor'].id}/events").status_code == 401
        form = http.get("/ui/login")
        cookie = form.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        # A storefront key is refused; the session stays anonymous.
        r = http.post("/ui/login", data={"api_key": server.storefront_key, "csrf_token": token})
        assert r.status_code == 403
        assert http.get("/ui").status_code == 303
        # A login without the form's CSRF token is refused.
        r = http.post("/ui/login", data={"api_key": server.ops_key, "csrf_token": "forged"})
        assert r.status_code == 403
        r = http.post("/ui/login", data={"api_key": server.ops_key, "csrf_token": token})
        assert r.status_code == 303 and r.headers["location"] == "/ui"
        assert http.get("/ui").status_code == 200


def test_actions_need_the_csrf_token(server: Server) -> None:
    drop = server.drops["report"]
    sku = drop.skus["Black / L"]
    with httpx.Client(base_url=server.url, follow_redirects=False) as http:
        token = http.get("/ui/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        http.post("/ui/login", data={"api_key": server.ops_key, "csrf_token": token})
        page = http.get(f"/ui/drops/{drop.id}")
        session_token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        r = http.post(f"/ui/drops/{drop.id}/skus/{sku}/pause", data={"csrf_token": "nope"})
        assert r.status_code == 403
        r = http.post(f"/ui/drops/{drop.id}/skus/{sku}/pause", data={})
        assert r.status_code == 403
    with server.client(server.ops_key) as api:
        rows = {s["sku_id"]: s for s in api.get(f"/v1/drops/{drop.id}/monitor").json()["skus"]}
    assert rows[sku]["paused"] is False
    assert session_token  # the page carries the token the forms must echo


def test_drop_buttons_pause_resume_and_end(server: Server) -> None:
    drop = server.drops["spare"]
    with httpx.Client(base_url=server.url, follow_redirects=False) as http:
        token = http.get("/ui/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        http.post("/ui/login", data={"api_key": server.ops_key, "csrf_token": token})
        page = http.get(f"/ui/drops/{drop.id}").text
        csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
        assert 'id="drop-paused"' in page and 'id="drop-ended"' in page

        def move(to: str) -> str:
            r = http.post(f"/ui/drops/{drop.id}/transition", data={"to": to, "csrf_token": csrf})
            assert r.status_code == 303
            with server.client(server.ops_key) as api:
                status: str = api.get(f"/v1/drops/{drop.id}").json()["status"]
            return status

        assert move("paused") == "paused"
        assert server.hold(drop.id, "late", drop.skus["Black / M"]).status_code == 409
        assert move("live") == "live"
        assert move("ended") == "ended"
        assert move("live") == "ended"  # refused: shown as a message, nothing changes
        r = http.post(f"/ui/drops/{drop.id}/transition", data={"to": "live", "csrf_token": csrf})
        assert "level=error" in r.headers["location"]
        assert "cannot go from ended" in http.get(r.headers["location"]).text


def first_event(server: Server, path: str, key: str) -> tuple[int, str]:
    with (
        server.client(key) as http,
        http.stream("GET", path, headers={"Accept": "text/event-stream"}) as r,
    ):
        if r.status_code != 200:
            r.read()
            return r.status_code, r.text
        buf = ""
        for chunk in r.iter_text():
            buf += chunk
            if "event: snapshot" in buf and buf.endswith("\n\n"):
                return r.status_code, buf
    return r.status_code, buf


def test_streams_respect_scopes_and_coarsening(server: Server) -> None:
    drop = server.drops["report"]
    status, body = first_event(server, f"/v1/drops/{drop.id}/monitor/stream", server.storefront_key)
    assert status == 403 and "forbidden" in body
    status, body = first_event(server, f"/v1/drops/{drop.id}/monitor/stream", server.ops_key)
    assert status == 200 and '"velocity_1m"' in body and '"cues"' in body
    status, body = first_event(server, f"/v1/drops/{drop.id}/stream", server.storefront_key)
    assert status == 200 and '"remaining"' in body and '"mode":"exact"' in body
    with server.client(server.ops_key) as api:
        r = api.put(f"/v1/drops/{drop.id}/monitor-settings", json={"stream_mode": "coarse"})
        assert r.status_code == 200
        assert (
            api.put(
                f"/v1/drops/{drop.id}/monitor-settings", json={"stream_mode": "vague"}
            ).status_code
            == 422
        )
    status, body = first_event(server, f"/v1/drops/{drop.id}/stream", server.storefront_key)
    assert status == 200 and '"remaining"' not in body and '"state":"in_stock"' in body
    with server.client(server.ops_key) as api:
        csv = api.get(f"/v1/drops/{drop.id}/report", params={"format": "csv"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert csv.text.startswith("section,name,metric,value")
        assert api.get(f"/v1/drops/{drop.id}/report", params={"format": "xml"}).status_code == 422
    with server.client(server.storefront_key) as http:
        assert http.get(f"/v1/drops/{drop.id}/report").status_code == 403
        assert http.get(f"/v1/drops/{drop.id}/monitor").status_code == 403


def test_simulate_drives_a_drop_that_the_report_accounts_for(server: Server) -> None:
    drop = server.drops["sim"]

    async def run() -> Summary:
        sim = Simulation(
            server.url, server.ops_key, SECRET, drop.id, viewers=20, duration_s=2, seed=7
        )
        return await sim.run()

    # Its own thread and loop: the module's Playwright browser owns this thread's loop.
    with ThreadPoolExecutor(1) as pool:
        summary = pool.submit(asyncio.run, run()).result()
    assert summary.counts["holds_placed"] > 0 and summary.counts["paid"] > 0
    assert summary.requests <= 5000
    with server.client(server.ops_key) as api:
        report = api.get(f"/v1/drops/{drop.id}/report").json()
    assert report["balanced"] is True
    assert report["totals"]["orders"] == summary.counts["paid"]
    assert report["totals"]["units_sold"] == summary.units_paid
    channels = {row["key"] for row in report["conversion"]["channel"]}
    assert channels <= {"live", "clip", "social", "email", "ad"} and channels


def test_simulate_only_targets_this_machine() -> None:
    for url in ("http://example.com:8000", "http://10.0.0.5:8000", "ftp://127.0.0.1/"):
        with pytest.raises(InvalidInput):
            Simulation(url, "k", "s", "drp_x")
    with pytest.raises(InvalidInput):
        Simulation("http://127.0.0.1:1", "k", "s", "drp_x", viewers=0)
    assert check_target("http://localhost:8000/") == "http://localhost:8000"

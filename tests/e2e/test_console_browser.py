"""The ops lead's whole drop in real Chromium, using only the /ui pages: from an empty
database to the catalog (a product's size × colour matrix in one form), stock, a bundle,
a drop with its offers and schedule, going live, the live monitor moving while buyers
(the storefront API) buy, a pause, the end, the orders and the report; and a sold-out
size's waitlist served by a restock wave planned from the console. Screenshots go
to ``test-artifacts/`` (the ones in ``docs/img/`` come from here)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from dropline.services.platform.access import mint_buyer_token
from e2e.server import KEY_RE, SECRET, DroplineServer
from monitor_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


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


def flash(page: Page) -> str:
    return page.locator(".flash").inner_text()


def buy(server: DroplineServer, store_key: str, drop_id: str, buyer: str, sku: str) -> None:
    headers = {
        "Authorization": f"Bearer {store_key}",
        "X-Buyer-Token": mint_buyer_token(SECRET, buyer),
    }
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as http:
        hold = http.post(f"/v1/drops/{drop_id}/holds",
                         json={"items": [{"sku_id": sku, "quantity": 1}]})  # fmt: skip
        assert hold.status_code == 201, hold.text
        paid = http.post("/v1/checkouts", json={"hold_id": hold.json()["id"],
                                                "payment_method": "4242424242424242"})  # fmt: skip
        assert paid.status_code == 201, paid.text


def test_a_whole_drop_from_the_pages_only(browser: Browser, server: DroplineServer) -> None:
    found = KEY_RE.search(server.cli("keys", "create", "--scope", "storefront"))
    assert found
    store_key = found.group(1)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    page.on("dialog", lambda d: d.accept())
    page.goto(f"{server.base_url}/ui")
    page.fill("#api_key", server.admin_key)
    page.click("#login")
    expect(page.locator("h1")).to_have_text("Drops")

    # Catalog: one form makes the whole matrix, sizes in wearing order.
    page.click("nav >> text=Products")
    page.fill("#p-name", "Logo Hoodie")
    page.fill("#p-price", "65.00")
    page.fill("#p-colours", "Black, Sand")
    for size in ("XL", "S", "M", "L"):
        page.check(f"#p-size-{size}")
    page.click("#p-create")
    assert flash(page) == "Logo Hoodie created with 8 variants: receive stock below"
    labels = page.locator("#variants tbody strong").all_inner_texts()
    assert labels[:4] == ["Black / S", "Black / M", "Black / L", "Black / XL"]
    for row in page.locator("#variants tbody tr").all():
        row.locator('input[name="quantity"]').fill("30")
        row.locator("button", has_text="Receive").click()
        expect(page.locator(".flash")).to_contain_text("received 30 × Logo Hoodie — ")
    expect(page.locator('#variants [data-f="available"]').first).to_have_text("30")
    page.screenshot(path=str(ARTIFACTS / "console-products.png"), full_page=True)
    page.click("nav >> text=Products")
    page.fill("#p-name", "Canvas Tote")
    page.fill("#p-price", "25")
    page.click("#p-create")
    page.locator("#variants tbody tr").first.locator('input[name="quantity"]').fill("50")
    page.locator("#variants tbody tr").first.locator("button", has_text="Receive").click()
    expect(page.locator(".flash")).to_contain_text("received 50 × Canvas Tote")

    page.click("nav >> text=Bundles")
    page.fill("#b-code", "HOODIE-TOTE")
    page.fill("#b-name", "Hoodie + Tote")
    page.fill("#b-price", "80")
    page.select_option("#b-sku-1", label="Logo Hoodie — Black / M (LOGO-HOODIE-BLACK-M)")
    page.select_option("#b-sku-2", label="Canvas Tote (CANVAS-TOTE)")
    page.click("#b-create")
    assert flash(page) == "bundle Hoodie + Tote (HOODIE-TOTE) created"

    # The drop: offers for every variant in one form, the bundle, the schedule.
    page.click("nav >> text=Drops")
    page.fill("#d-name", "Friday live drop")
    page.click("#d-create")
    assert flash(page) == "Friday live drop created: choose what it offers"
    drop_id = re.search(r"/ui/drops/(drp_\w+)/setup", page.url).group(1)  # type: ignore[union-attr]
    for row in page.locator("#offer-rows tbody tr").all():
        small = "Black / S" in row.inner_text()
        row.locator('input[name^="qty_"]').fill("3" if small else "10")
        row.locator('input[name^="limit_"]').fill("2")
    page.check("#bundle-HOODIE-TOTE")
    page.click("#save-offers")
    assert flash(page).startswith("offers saved (10 changes)")
    page.fill("#d-starts", "2030-06-07T20:00")
    page.click("#d-schedule")
    expect(page.locator(".flash")).to_contain_text("Friday live drop is scheduled")
    page.screenshot(path=str(ARTIFACTS / "console-setup.png"), full_page=True)

    # Live: the monitor counts down, then runs; buyers buy through the storefront API.
    page.click("#to-monitor")
    expect(page.locator("#clock")).to_contain_text("Starts in")
    page.click("#drop-live")
    expect(page.locator(".flash")).to_have_text("drop is now live")
    expect(page.locator("#live-state")).to_have_text("connected")
    expect(page.locator("#clock-text")).to_contain_text("Live for")
    rows = page.locator("#sku-rows tr")
    first = rows.first.locator("strong").inner_text()
    assert first == "Canvas Tote" or first.startswith("Canvas Tote")
    with httpx.Client(base_url=server.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {server.admin_key}"}) as api:  # fmt: skip
        offers = {o["label"]: o["sku_id"] for o in api.get(f"/v1/drops/{drop_id}").json()["offers"]}
    small = offers["Logo Hoodie — Black / S"]
    for n in range(3):
        buy(server, store_key, drop_id, f"buyer-{n}", small)
    buy(server, store_key, drop_id, "buyer-9", offers["Canvas Tote"])
    expect(page.locator("#t-sold")).to_have_text("4")
    expect(page.locator("#t-revenue")).to_have_text("USD 220.00")
    expect(page.locator("svg#velocity-chart")).to_have_attribute("data-total", "4", timeout=20_000)
    expect(page.locator("#cues")).to_contain_text("Logo Hoodie — Black / S sold out")
    expect(page.locator("#alerts")).to_contain_text("Logo Hoodie — Black / S is sold out")
    expect(page.locator(f'tr[data-sku="{small}"] [data-f="eta"]')).to_have_text("sold out")
    expect(page.locator('#bundle-table [data-f="available"]')).to_have_text("9")  # 9 totes left
    sand = page.locator(f'tr[data-sku="{offers["Logo Hoodie — Sand / M"]}"]')
    sand.locator("button.sku-toggle").click()
    expect(page.locator(".flash")).to_contain_text("Logo Hoodie — Sand / M paused")
    expect(sand.locator("button.sku-toggle")).to_have_text("Resume")
    page.screenshot(path=str(ARTIFACTS / "monitor.png"), full_page=True)

    # The end: final numbers, nothing streaming, nothing to pause.
    page.click("#drop-ended")
    expect(page.locator("#clock")).to_contain_text("Ended")
    expect(page.locator("button.sku-toggle")).to_have_count(0)
    expect(page.locator("#live-state")).to_have_count(0)
    expect(page.locator("#sku-rows")).not_to_contain_text("sold out")

    page.click("nav >> text=Orders")
    order_rows = page.locator("#order-rows tbody tr")
    expect(order_rows).to_have_count(4)
    expect(order_rows.first).to_contain_text("Friday live drop")
    expect(order_rows.first).to_contain_text("DL-10")

    page.goto(f"{server.base_url}/ui/drops/{drop_id}/report")
    expect(page.locator("#headline")).to_contain_text("USD 220.00")
    expect(page.locator("#balanced")).to_have_text("balanced")
    expect(page.locator("#sales-chart .sellout")).to_have_count(1)
    box = page.locator("#sales-chart").bounding_box()
    assert box is not None and box["width"] > 1000  # the chart spans the page
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)

    page.goto(f"{server.base_url}/ui/drops/drp_nope")
    expect(page.locator("h1")).to_have_text("Not found")
    page.close()


def test_waitlist_and_restock_waves_from_the_console(
    browser: Browser, server: DroplineServer
) -> None:
    """A sold-out size with a buyer in line: the ops lead opens the waitlist page from
    the monitor, sets the line, plans a wave for now (the line is served first) and one
    for tomorrow, then cancels tomorrow's."""
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    with httpx.Client(base_url=server.base_url, headers=admin, timeout=30) as api:

        def ok(r: httpx.Response) -> Any:
            assert r.status_code in (200, 201), r.text
            return r.json()

        product = ok(api.post("/v1/products", json={"name": "Logo Hoodie"}))
        sku = ok(api.post(f"/v1/products/{product['id']}/skus", json={
            "code": "LOGO-HOODIE-BLACK-M", "price": {"amount": 6500, "currency": "USD"},
            "attributes": {"colour": "Black", "size": "M"}}))["id"]  # fmt: skip
        ok(api.post(f"/v1/stock/{sku}/receipts", json={"quantity": 6}))
        drop_id = ok(api.post("/v1/drops", json={"name": "Friday live drop", "currency": "USD"}))[
            "id"
        ]
        ok(api.put(f"/v1/drops/{drop_id}/offers/{sku}", json={"quantity": 1}))
        for status in ("scheduled", "live"):
            ok(api.post(f"/v1/drops/{drop_id}/transitions", json={"to": status}))
        store_key = ok(api.post("/v1/api-keys", json={"name": "site", "scope": "storefront"}))
    buy(server, store_key["key"], drop_id, "ann", sku)  # the only unit
    with httpx.Client(base_url=server.base_url, timeout=30, headers={
        "Authorization": f"Bearer {store_key['key']}",
        "X-Buyer-Token": mint_buyer_token(SECRET, "bo")}) as bo:  # fmt: skip
        joined = bo.post(f"/v1/drops/{drop_id}/waitlist",
                         json={"sku_id": sku, "email": "bo@example.com"})  # fmt: skip
        assert joined.status_code == 201, joined.text

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    page.on("dialog", lambda d: d.accept())  # the Cancel button asks first
    page.goto(f"{server.base_url}/ui/drops/{drop_id}")
    page.fill("#api_key", server.admin_key)
    page.click("#login")
    page.click("#to-waitlist")
    expect(page.locator("h1")).to_contain_text("waitlist and restock waves")
    row = page.locator(f'#demand-table tr[data-sku="{sku}"]')
    expect(row.locator('[data-f="waiting"]')).to_have_text("1")

    page.select_option("#w-order", "draw")
    page.fill("#w-window", "300")
    page.click("#save-waitlist")
    assert flash(page) == "waitlist saved: draw order, claim window 300 s"

    # now: bo gets the first unit as a claim, the other goes on sale
    page.select_option("#r-sku", sku)
    page.fill("#r-quantity", "2")
    page.click("#plan-wave")
    expect(page.locator(".flash")).to_contain_text(
        "restock wave planned: 2 × Logo Hoodie — Black / M at"
    )
    done = page.locator("#wave-table tbody tr").first
    for _ in range(100):  # the background job applies it within a pass or two
        if done.locator('[data-f="status"]').inner_text() == "done":
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(done.locator('[data-f="status"]')).to_have_text("done")
    expect(done.locator('[data-f="waitlisted"]')).to_have_text("1")
    expect(done.locator('[data-f="on_sale"]')).to_have_text("1")
    expect(row.locator('[data-f="offered"]')).to_have_text("1")

    tomorrow = datetime.now(UTC) + timedelta(days=1)
    page.select_option("#r-sku", sku)
    page.fill("#r-quantity", "3")
    page.fill("#r-at", tomorrow.strftime("%Y-%m-%dT%H:%M"))
    page.click("#plan-wave")
    expect(page.locator(".flash")).to_contain_text(tomorrow.strftime("%d %b %Y, %H:%M UTC"))
    later = page.locator("#wave-table tbody tr").last
    expect(later.locator('[data-f="status"]')).to_have_text("scheduled")
    page.screenshot(path=str(ARTIFACTS / "console-waitlist.png"), full_page=True)

    later.locator("button.cancel-wave").click()
    expect(page.locator(".flash")).to_contain_text("cancelled")
    expect(later.locator('[data-f="status"]')).to_have_text("cancelled")
    expect(page.locator("button.cancel-wave")).to_have_count(0)
    page.close()

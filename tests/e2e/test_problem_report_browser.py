"""A buyer reports a problem in real Chromium: the link of the delivered message opens
the report page on a running ``dropline serve``; the page's static script refuses a
file that is not a photo before anything is sent, a real photo goes through, and the
confirmation names the report. No Content-Security-Policy violation on the way."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect, sync_playwright

from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.domain.fulfilment.rules import FulfilmentUpdate
from dropline.services.fulfilment.shipping import UpdateDetails
from e2e.server import SECRET, DroplineServer
from fulfilment_support import paid_order
from monitor_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium
from support import seed_shop

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

T = TypeVar("T")
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end on a thread of its own: the sync Playwright API keeps an
    event loop running on this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


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


async def delivered_link(server: DroplineServer) -> tuple[str, str]:
    """A delivered order written into the server's database; the path of its link."""
    settings = Settings(
        database_url=server.database_url,
        engine_url="memory",
        background_tasks=False,
        buyer_token_secret=SECRET,
    )
    c: Container = await build(settings)
    try:
        shop = await seed_shop(c, units=3)
        order = await paid_order(c, shop, "ann", 2)
        details = UpdateDetails(carrier="UPS", tracking_number="1Z999AA10123456784")
        for kind in (FulfilmentUpdate.SHIPPED, FulfilmentUpdate.DELIVERED):
            await c.fulfilment.apply_update("wms", f"{kind}-{order.id}", kind, order.id, details)
        [msg] = await c.messages.list(order_id=order.id, kind="delivered")
        found = re.search(r"/ui/report-problem\?token=[\w.\-]+", msg["text_body"])
        assert found, msg["text_body"]
        return order.id, found.group(0)
    finally:
        await c.close()


async def reports(server: DroplineServer) -> list[dict[str, object]]:
    c = await build(Settings(database_url=server.database_url, background_tasks=False))
    try:
        return await c.problems.list()
    finally:
        await c.close()


def test_a_buyer_reports_a_problem_from_the_delivered_link(
    browser: Browser, server: DroplineServer, tmp_path: Path
) -> None:
    order_id, link = in_thread(delivered_link(server))
    page = browser.new_page(viewport={"width": 800, "height": 900})
    page.set_default_timeout(15_000)
    problems: list[str] = []

    def watch(msg: ConsoleMessage) -> None:
        if "Content Security Policy" in msg.text or "Refused to" in msg.text:
            problems.append(msg.text)

    page.on("console", watch)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{server.base_url}{link}")
    expect(page.locator("h1")).to_have_text("Report a problem")
    page.fill("#qty_1", "1")
    page.select_option("#reason", "stitching")
    page.fill("#note", "The seam split on first wear.")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a photo")
    page.set_input_files("#photos", str(text_file))
    expect(page.locator("#photo-check")).to_contain_text("is not a JPEG, PNG or WebP photo")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Report a problem")  # the script kept it here
    assert in_thread(reports(server)) == []

    photo = tmp_path / "seam.jpg"
    photo.write_bytes(JPEG)
    page.set_input_files("#photos", str(photo))
    expect(page.locator("#photo-check")).to_have_text("")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("your report is in")
    page.screenshot(path=str(ARTIFACTS / "problem-report.png"))
    [report] = in_thread(reports(server))
    assert report["order_id"] == order_id and report["via"] == "link"
    expect(page.locator("#report-id")).to_contain_text(str(report["id"]))
    assert problems == []

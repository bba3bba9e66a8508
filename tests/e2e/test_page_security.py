"""Every page a browser renders carries the security headers, and real Chromium reports
no Content-Security-Policy violation on any of them: no inline script, nothing loaded
from elsewhere (``/docs`` works with no network)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect, sync_playwright

from dropline.web.headers import CSP
from monitor_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Server, require_chromium, server

__all__ = ["server"]  # the fixture, re-exported for pytest

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


def _pages(server: Server) -> list[str]:
    drop = server.drops["monitor"].id
    return [
        "/ui",
        f"/ui/drops/{drop}",
        f"/ui/drops/{drop}/report",
        "/ui/orders",
        "/ui/messages",
        "/ui/webhooks",
        "/ui/returns",
        "/ui/launches",
        "/ui/quality",
        "/ui/suppliers",
        f"/ui/lessons?drop_id={drop}",
        "/ui/counts",
        f"/ui/drops/{drop}/readiness",
        f"/ui/drops/{drop}/waitlist",
        "/docs",
    ]


def test_every_page_sends_the_security_headers(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        for path in ["/ui/login", "/", "/redoc", *_pages(server)]:
            r = client.get(path, headers={"accept": "text/html"})
            assert r.status_code in (200, 303, 307), path
            assert r.headers["content-security-policy"] == CSP, path
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert "'unsafe-inline'" not in CSP.split("script-src")[1].split(";")[0]
            assert r.headers["x-frame-options"] == "DENY", path
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["referrer-policy"] == "same-origin", path


def test_root_sends_a_browser_to_the_console(server: Server) -> None:
    r = httpx.get(f"{server.url}/", headers={"accept": "text/html"})
    assert r.status_code == 307 and r.headers["location"] == "/ui"
    assert httpx.get(f"{server.url}/").json()["docs"] == "/docs"


def test_no_page_violates_the_policy_in_chromium(browser: Browser, server: Server) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    problems: list[str] = []

    def watch(msg: ConsoleMessage) -> None:
        text = msg.text
        if "Content Security Policy" in text or "Refused to" in text:
            problems.append(f"{page.url}: {text}")

    page.on("console", watch)
    page.on("pageerror", lambda exc: problems.append(f"{page.url}: {exc}"))
    blocked: list[str] = []
    page.on(
        "requestfailed",
        lambda req: blocked.append(req.url) if not req.url.startswith(server.url) else None,
    )
    page.goto(f"{server.url}/ui")
    expect(page).to_have_url(f"{server.url}/ui/login?next={quote('/ui')}")
    page.fill("#api_key", server.ops_key)
    page.click("#login")
    expect(page.locator("h1")).to_be_visible()
    for path in _pages(server):
        page.goto(f"{server.url}{path}")
        page.wait_for_load_state("networkidle")
    # Swagger UI and ReDoc really rendered from the local assets
    page.goto(f"{server.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("dropline")
    page.screenshot(path=str(ARTIFACTS / "docs.png"))
    assert problems == [], "\n".join(problems)
    assert blocked == []

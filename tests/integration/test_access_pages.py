"""The drop setup page's access panel (/ui) on both backends: windows typed by SKU code
in UTC are saved and shown again; a bad window is refused with its code and nothing
changes; the rate limits are saved and shown."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from dropline.api.app import create_app
from dropline.bootstrap import Container
from support import seed_shop


@pytest.fixture
async def ui(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            key, _ = await container.access.create_key("ops lead", "ops")
            form = await http.get("/ui/login")
            token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
            r = await http.post("/ui/login", data={"api_key": key, "csrf_token": token})
            assert r.status_code == 303
            yield http


async def post(http: httpx.AsyncClient, page: str, action: str, data: dict[str, object]) -> str:
    token = (await http.get(page)).text.split('name="csrf_token" value="')[1].split('"')[0]
    r = await http.post(action, data={"csrf_token": token, **data})
    assert r.status_code == 303, r.text
    back = await http.get(r.headers["location"])
    found = re.search(r'<p class="flash (\w+)" role="status">(.*?)</p>', back.text)
    assert found, back.text[-2000:]
    return html.unescape(f"{found.group(1)}: {found.group(2)}")


async def test_windows_and_limits_from_the_setup_page(
    ui: httpx.AsyncClient, container: Container
) -> None:
    shop = await seed_shop(container, units=10, live=False)
    sku = shop.skus[0]
    catalog = await container.drops.cache.get(shop.drop_id)
    code = catalog.skus[sku].code
    page = f"/ui/drops/{shop.drop_id}/setup"
    assert 'id="access-panel"' in (await ui.get(page)).text
    action = f"/ui/drops/{shop.drop_id}/access/windows"
    rows = {
        "name_0": "Gold", "starts_0": "2030-01-01T20:00", "tiers_0": "gold",
        "alloc_0": f"{code}: 4",
        "name_1": "Everyone", "starts_1": "2030-01-01T20:30", "tiers_1": "", "alloc_1": "",
        "name_2": "", "starts_2": "", "tiers_2": "", "alloc_2": "",
    }  # fmt: skip
    assert await post(ui, page, action, rows) == "info: access windows saved (2)"
    policy = await container.access_windows.get(shop.drop_id)
    assert [w.name for w in policy.windows] == ["Gold", "Everyone"]
    assert policy.windows[0].starts_at == datetime(2030, 1, 1, 20, tzinfo=UTC).timestamp()
    assert policy.windows[0].allocation == {sku: 4} and policy.windows[1].allocation is None
    shown = (await ui.get(page)).text
    assert f'value="{code}: 4"' in shown and 'value="2030-01-01T20:30"' in shown

    bad = rows | {"starts_1": "2029-12-31T20:00"}
    flash = await post(ui, page, action, bad)
    assert flash.startswith("error:") and "(window_order)" in flash
    typo = rows | {"starts_1": "2030-01-01 8pm"}
    flash = await post(ui, page, action, typo)
    assert flash == "error: '2030-01-01 8pm' is not a date and time (validation_error)"
    zoned = await post(ui, page, action, rows | {"starts_1": "2030-01-01T21:30+01:00"})
    assert zoned == "info: access windows saved (2)"  # an offset is converted to UTC
    later = (await container.access_windows.get(shop.drop_id)).windows[1].starts_at
    assert later == datetime(2030, 1, 1, 20, 30, tzinfo=UTC).timestamp()
    over = rows | {"alloc_0": f"{code}: 11"}
    assert "(window_allocation_exceeds_offer)" in await post(ui, page, action, over)
    assert [w.name for w in (await container.access_windows.get(shop.drop_id)).windows] == [
        "Gold",
        "Everyone",
    ]

    limits = f"/ui/drops/{shop.drop_id}/access/limits"
    saved = await post(ui, page, limits, {"holds_per_buyer": "5", "token_max_age_s": "600"})
    assert saved == "info: rate limits saved"
    lim = (await container.access_windows.get(shop.drop_id)).limits
    assert (lim.holds_per_buyer, lim.token_max_age_s, lim.holds_per_address) == (5, 600, None)
    assert 'name="holds_per_buyer" value="5"' in (await ui.get(page)).text
    refused = await post(ui, page, limits, {"token_max_age_s": "3"})
    assert refused.startswith("error:") and "(validation_error)" in refused

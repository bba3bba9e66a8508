"""Listing orders: pages walk every order once, oldest first, whatever their ids."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.services.ports import ManualClock
from fulfilment_support import paid_order
from support import seed_shop


@pytest.fixture
async def api(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=container)
    app.state.container = container
    ops, _ = await container.access.create_key("ops", "ops")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {ops}"},
    ) as client:
        yield client


async def test_paging_walks_every_order_once_oldest_first(
    container: Container, clock: ManualClock, api: httpx.AsyncClient
) -> None:
    shop = await seed_shop(container, units=10)
    made = []
    for n in range(6):
        made.append((await paid_order(container, shop, f"buyer-{n}", 1)).id)
        clock.advance(1)  # ids are random: creation order is not id order
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, str | int] = {"drop_id": shop.drop_id, "limit": 2}
        if after:
            params["after"] = after
        page = (await api.get("/v1/orders", params=params)).json()
        if not page:
            break
        seen += [o["id"] for o in page]
        after = page[-1]["id"]
    assert seen == made
    unknown = await api.get("/v1/orders", params={"after": "ord_unknown"})
    assert unknown.status_code == 200 and unknown.json() == []

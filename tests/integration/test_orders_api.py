"""Listing orders: pages walk every order once, oldest first, whatever their ids."""

from __future__ import annotations

import httpx

from dropline.bootstrap import Container
from dropline.services.ports import ManualClock
from fulfilment_support import paid_order
from support import seed_shop


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

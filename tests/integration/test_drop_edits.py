"""The drops API the console needs: edit a drop before it goes live, offers that carry
their product and variant in wearing order, and a list with units, sell-through and
revenue. On both backends."""

from __future__ import annotations

import httpx

from dropline.bootstrap import Container
from fulfilment_support import paid_order
from support import seed_shop, unique_suffix


async def test_edit_a_drop_only_before_it_goes_live(
    container: Container, api: httpx.AsyncClient
) -> None:
    shop = await seed_shop(container, live=False)
    r = await api.patch(
        f"/v1/drops/{shop.drop_id}",
        json={"name": "Friday drop", "starts_at": "2026-12-12T20:00:00Z", "hold_ttl_s": 120},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["starts_at"], body["hold_ttl_s"]) == (
        "Friday drop", "2026-12-12T20:00:00Z", 120,
    )  # fmt: skip
    r = await api.patch(f"/v1/drops/{shop.drop_id}", json={"starts_at": None})
    assert r.json()["starts_at"] is None and r.json()["name"] == "Friday drop"
    bad = await api.patch(f"/v1/drops/{shop.drop_id}", json={"starts_at": "tomorrow"})
    assert bad.status_code == 422
    for to in ("scheduled", "live"):
        await api.post(f"/v1/drops/{shop.drop_id}/transitions", json={"to": to})
    late = await api.patch(f"/v1/drops/{shop.drop_id}", json={"hold_ttl_s": 30})
    assert late.status_code == 409 and late.json()["drop_status"] == "live"
    renamed = await api.patch(f"/v1/drops/{shop.drop_id}", json={"name": "Friday night"})
    assert renamed.status_code == 200 and renamed.json()["hold_ttl_s"] == 120


async def test_offers_name_their_product_and_sort_by_size(
    container: Container, api: httpx.AsyncClient
) -> None:
    product = await container.catalog.create_product("Logo Hoodie")
    suffix = unique_suffix()
    drop = await container.drops.create("D", "USD")
    for size in ("XL", "S", "L", "M"):
        sku = await container.catalog.create_sku(
            product.id, f"H-{size}-{suffix}", 6500, "USD", {"colour": "Black", "size": size}
        )
        await container.stock.receive(sku.id, 5)
        await container.drops.set_offer(drop.id, sku.id, 5)
    offers = (await api.get(f"/v1/drops/{drop.id}")).json()["offers"]
    assert [o["label"] for o in offers] == [
        "Logo Hoodie — Black / S", "Logo Hoodie — Black / M",
        "Logo Hoodie — Black / L", "Logo Hoodie — Black / XL",
    ]  # fmt: skip
    assert offers[0]["price"] == {"amount": 6500, "currency": "USD"}
    assert offers[0]["code"] == f"H-S-{suffix}"


async def test_list_carries_units_sell_through_and_revenue(
    container: Container, api: httpx.AsyncClient
) -> None:
    shop = await seed_shop(container, units=10)
    await paid_order(container, shop, "ann", 2)
    empty = await container.drops.create("Empty", "EUR")
    drops = {d["id"]: d for d in (await api.get("/v1/drops")).json()}
    assert drops[shop.drop_id]["summary"] == {
        "offered": 10,
        "sold": 2,
        "sell_through_pct": 20.0,
        "revenue": {"amount": 5000, "currency": "USD"},
    }
    assert drops[empty.id]["summary"]["sell_through_pct"] is None
    assert drops[empty.id]["summary"]["revenue"] == {"amount": 0, "currency": "EUR"}

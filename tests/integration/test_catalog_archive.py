"""Editing and archiving the catalog over the API, on both backends: archived items keep
their history, cannot be offered or bundled (409 ``archived``), and come back when
restored; edits reach the drops that sell the item."""

from __future__ import annotations

import httpx

from dropline.bootstrap import Container
from dropline.domain.live.drops import DropStatus
from dropline.services.ports import ManualClock
from support import seed_shop, unique_suffix


async def _product_with_skus(api: httpx.AsyncClient, sizes: tuple[str, ...]) -> dict[str, str]:
    product = (await api.post("/v1/products", json={"name": "Logo Hoodie"})).json()
    suffix = unique_suffix()
    out = {"product": product["id"]}
    for size in sizes:
        r = await api.post(
            f"/v1/products/{product['id']}/skus",
            json={
                "code": f"HD-{size}-{suffix}",
                "price": {"amount": 6500, "currency": "USD"},
                "attributes": {"colour": "Black", "size": size},
            },
        )
        assert r.status_code == 201, r.text
        out[size] = r.json()["id"]
        await api.post(f"/v1/stock/{out[size]}/receipts", json={"quantity": 10})
    return out


async def test_edit_product_sku_and_bundle(api: httpx.AsyncClient) -> None:
    ids = await _product_with_skus(api, ("M", "L"))
    r = await api.patch(f"/v1/products/{ids['product']}", json={"name": "Logo Hoodie v2"})
    assert r.status_code == 200 and r.json()["name"] == "Logo Hoodie v2"
    r = await api.patch(
        f"/v1/skus/{ids['M']}",
        json={"price_amount": 7000, "attributes": {"colour": "Black", "size": "M"}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["price"] == {"amount": 7000, "currency": "USD"}
    bundle = await api.post(
        "/v1/bundles",
        json={
            "code": f"B-{unique_suffix()}",
            "name": "Pair",
            "price": {"amount": 12000, "currency": "USD"},
            "components": [
                {"sku_id": ids["M"], "quantity": 1},
                {"sku_id": ids["L"], "quantity": 1},
            ],
        },
    )
    assert bundle.status_code == 201
    r = await api.patch(f"/v1/bundles/{bundle.json()['id']}", json={"name": "Hoodie pair"})
    assert r.json()["name"] == "Hoodie pair"
    # A code already used by another SKU is refused, and nothing changes.
    taken = (await api.get(f"/v1/skus/{ids['L']}")).json()["code"]
    r = await api.patch(f"/v1/skus/{ids['M']}", json={"code": taken})
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    assert (await api.get(f"/v1/skus/{ids['M']}")).json()["price"]["amount"] == 7000
    unknown = await api.patch("/v1/skus/sku_nope", json={"bin_location": "A-1"})
    assert unknown.status_code == 404


async def test_archived_sku_cannot_be_offered_and_keeps_its_history(
    api: httpx.AsyncClient,
) -> None:
    ids = await _product_with_skus(api, ("M",))
    r = await api.post(f"/v1/skus/{ids['M']}/archive")
    assert r.status_code == 200 and r.json()["archived"] is True
    drop = (await api.post("/v1/drops", json={"name": "D", "currency": "USD"})).json()
    offer = await api.put(f"/v1/drops/{drop['id']}/offers/{ids['M']}", json={"quantity": 5})
    assert offer.status_code == 409
    problem = offer.json()
    assert problem["code"] == "archived" and problem["sku_id"] == ids["M"]
    assert "restore" in problem["detail"]
    # Still readable, with its stock; listed only when asked for.
    assert (await api.get(f"/v1/skus/{ids['M']}")).json()["archived"] is True
    assert (await api.get(f"/v1/stock/{ids['M']}")).json()["level"]["available"] == 10
    listed = (await api.get("/v1/products")).json()
    assert all(p["id"] != ids["product"] or p["skus"] == [] for p in listed)
    restored = await api.post(f"/v1/skus/{ids['M']}/restore")
    assert restored.json()["archived"] is False
    offer = await api.put(f"/v1/drops/{drop['id']}/offers/{ids['M']}", json={"quantity": 5})
    assert offer.status_code == 200, offer.text


async def test_archiving_a_product_archives_its_skus_and_restores_them_together(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    ids = await _product_with_skus(api, ("S", "M", "L"))
    await api.post(f"/v1/skus/{ids['S']}/archive")  # archived on its own, earlier
    clock.advance(1)
    r = await api.post(f"/v1/products/{ids['product']}/archive")
    assert r.status_code == 200 and r.json()["archived"] is True
    assert all(s["archived"] for s in r.json()["skus"])
    assert ids["product"] not in [p["id"] for p in (await api.get("/v1/products")).json()]
    assert ids["product"] in [
        p["id"] for p in (await api.get("/v1/products", params={"archived": "true"})).json()
    ]
    # A new variant of an archived product, or restoring one of its SKUs: 409.
    new = await api.post(
        f"/v1/products/{ids['product']}/skus",
        json={"code": f"X-{unique_suffix()}", "price": {"amount": 1, "currency": "USD"}},
    )
    assert new.status_code == 409 and new.json()["code"] == "archived"
    assert (await api.post(f"/v1/skus/{ids['M']}/restore")).json()["code"] == "archived"
    restored = (await api.post(f"/v1/products/{ids['product']}/restore")).json()
    by_id = {s["id"]: s["archived"] for s in restored["skus"]}
    assert by_id == {ids["S"]: True, ids["M"]: False, ids["L"]: False}


async def test_archive_is_refused_while_a_drop_offers_the_item(
    container: Container, api: httpx.AsyncClient
) -> None:
    shop = await seed_shop(container, skus=2, bundle=True, live=False)
    sku = shop.skus[0]
    r = await api.post(f"/v1/skus/{sku}/archive")
    assert r.status_code == 409 and r.json()["drop_id"] == shop.drop_id
    assert shop.bundle_id is not None
    r = await api.post(f"/v1/bundles/{shop.bundle_id}/archive")
    assert r.status_code == 409 and r.json()["drop_id"] == shop.drop_id
    product = (await api.get(f"/v1/skus/{sku}")).json()["product_id"]
    assert (await api.post(f"/v1/products/{product}/archive")).status_code == 409
    assert (await api.get(f"/v1/skus/{sku}")).json()["archived"] is False
    # Once the drop has ended, the same archive goes through; the drop's report and
    # orders still name the SKU.
    await container.drops.transition(shop.drop_id, DropStatus.ENDED)
    assert (await api.post(f"/v1/bundles/{shop.bundle_id}/archive")).status_code == 200
    assert (await api.post(f"/v1/skus/{sku}/archive")).status_code == 200
    report = await container.reports.build(shop.drop_id)
    assert sku in {row["sku_id"] for row in report["sell_through"]["by_sku"]}


async def test_archived_bundle_cannot_join_a_drop(
    container: Container, api: httpx.AsyncClient
) -> None:
    shop = await seed_shop(container, skus=2, live=False)
    bundle = await api.post(
        "/v1/bundles",
        json={
            "code": f"B-{unique_suffix()}",
            "name": "Pair",
            "price": {"amount": 4000, "currency": "USD"},
            "components": [{"sku_id": s, "quantity": 1} for s in shop.skus],
        },
    )
    bundle_id = bundle.json()["id"]
    assert (await api.post(f"/v1/bundles/{bundle_id}/archive")).status_code == 200
    r = await api.post(f"/v1/drops/{shop.drop_id}/bundles", json={"bundle_id": bundle_id})
    assert r.status_code == 409 and r.json()["code"] == "archived"
    assert r.json()["bundle_id"] == bundle_id
    assert (await api.get("/v1/bundles")).json() == []
    await api.post(f"/v1/bundles/{bundle_id}/restore")
    r = await api.post(f"/v1/drops/{shop.drop_id}/bundles", json={"bundle_id": bundle_id})
    assert r.status_code == 201, r.text


async def test_price_is_frozen_while_live_and_names_reach_the_live_drop(
    container: Container, api: httpx.AsyncClient
) -> None:
    shop = await seed_shop(container, skus=1, live=True)
    sku = shop.skus[0]
    r = await api.patch(f"/v1/skus/{sku}", json={"price_amount": 1})
    assert r.status_code == 409 and r.json()["drop_id"] == shop.drop_id
    assert (await api.get(f"/v1/skus/{sku}")).json()["price"]["amount"] == 2500
    product = (await api.get(f"/v1/skus/{sku}")).json()["product_id"]
    before = await container.drops.cache.get(shop.drop_id)
    assert before.products[product].name == "Tee"
    await api.patch(f"/v1/products/{product}", json={"name": "Tour Tee"})
    after = await container.drops.cache.get(shop.drop_id)
    assert after.products[product].name == "Tour Tee"


async def test_pausing_a_sku_of_an_ended_drop_is_a_conflict(
    container: Container, api: httpx.AsyncClient
) -> None:
    shop = await seed_shop(container, skus=1, live=True)
    await container.drops.transition(shop.drop_id, DropStatus.ENDED)
    r = await api.post(f"/v1/drops/{shop.drop_id}/skus/{shop.skus[0]}/pause")
    assert r.status_code == 409, r.text
    assert "ended" in r.json()["detail"]
    offers = (await api.get(f"/v1/drops/{shop.drop_id}")).json()["offers"]
    assert offers[0]["paused"] is False

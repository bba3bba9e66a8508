"""The /ui console's forms in-process on both backends: a product and its size × colour
matrix in one form, stock received per variant, a bundle, a drop with its offers and
schedule, going live; the drops list with units, sell-through and revenue; orders one
row each with the drop's name and tracking; friendly pages for unknown ids."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.domain.fulfilment.rules import FulfilmentUpdate
from dropline.services.fulfilment.shipping import UpdateDetails
from fulfilment_support import VISA
from support import sku_item


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


def csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


async def post(http: httpx.AsyncClient, page: str, action: str, data: dict[str, object]) -> str:
    """Submit a form of ``page`` as a browser would; the flash message it comes back with."""
    token = csrf((await http.get(page)).text)
    r = await http.post(action, data={"csrf_token": token, **data})
    assert r.status_code == 303, r.text
    back = await http.get(r.headers["location"])
    found = re.search(r'<p class="flash (\w+)" role="status">(.*?)</p>', back.text)
    assert found, back.text[-2000:]
    return html.unescape(f"{found.group(1)}: {found.group(2)}")


async def test_from_an_empty_shop_to_a_live_drop_with_forms_only(
    ui: httpx.AsyncClient, container: Container
) -> None:
    flash = await post(ui, "/ui/products", "/ui/products", {
        "name": "Logo Hoodie", "price": "65.00", "currency": "USD",
        "colours": "Black, Sand", "sizes": ["XL", "S", "M"], "other_sizes": "",
    })  # fmt: skip
    assert flash == "info: Logo Hoodie created with 6 variants: receive stock below"
    products = await container.catalog.list_products()
    product, skus = products[0]
    page = (await ui.get(f"/ui/products/{product.id}")).text
    labels = re.findall(r"<strong>(\w+ / \w+)</strong>", page)
    assert labels == ["Black / S", "Black / M", "Black / XL", "Sand / S", "Sand / M", "Sand / XL"]
    for sku in skus:
        flash = await post(ui, f"/ui/products/{product.id}", f"/ui/skus/{sku.id}/receive",
                           {"quantity": "40", "note": "PO 7"})  # fmt: skip
        assert flash.startswith("info: received 40 × Logo Hoodie — ")
    bad = await post(ui, "/ui/products", "/ui/products", {"name": "Cap", "price": "1.234"})
    assert bad.startswith("error: price '1.234' is not an amount of USD")
    black_m = next(s for s in skus if s.code == "LOGO-HOODIE-BLACK-M")
    black_s = next(s for s in skus if s.code == "LOGO-HOODIE-BLACK-S")
    flash = await post(ui, "/ui/bundles", "/ui/bundles", {
        "code": "PAIR", "name": "Hoodie pair", "price": "120", "currency": "USD",
        "sku_1": black_m.id, "qty_1": "1", "sku_2": black_s.id, "qty_2": "1",
    })  # fmt: skip
    assert flash == "info: bundle Hoodie pair (PAIR) created"
    bundle = (await container.catalog.list_bundles())[0]

    flash = await post(ui, "/ui", "/ui/drops", {"name": "Friday drop", "currency": "USD",
                                                "starts_at": "", "hold_ttl_s": "90"})  # fmt: skip
    drop = (await container.drops.list_drops())[0]
    assert flash == "info: Friday drop created: choose what it offers"
    setup = f"/ui/drops/{drop.id}/setup"
    offers: dict[str, object] = {f"qty_{s.id}": "20" for s in skus}
    offers |= {f"limit_{s.id}": "2" for s in skus} | {"bundle": [bundle.id]}
    assert await post(ui, setup, f"/ui/drops/{drop.id}/offers", offers) == (
        "info: offers saved (7 changes)"
    )
    flash = await post(ui, setup, f"/ui/drops/{drop.id}/schedule",
                       {"name": "Friday drop", "starts_at": "2030-06-07T20:00"})  # fmt: skip
    assert flash.startswith("info: Friday drop is scheduled")
    drop_now, got, bundle_ids = await container.drops.get(drop.id)
    assert drop_now.starts_at == datetime(2030, 6, 7, 20, 0, tzinfo=UTC).timestamp()
    assert {o.offered for o in got.values()} == {20} and bundle_ids == [bundle.id]
    assert {o.per_buyer_limit for o in got.values()} == {2}
    listing = (await ui.get("/ui")).text
    assert "Fri 07 Jun 2030, 20:00 UTC" in listing and "0 / 120" in listing
    flash = await post(ui, f"/ui/drops/{drop.id}", f"/ui/drops/{drop.id}/transition",
                       {"to": "live"})  # fmt: skip
    assert flash == "info: drop is now live"

    hold = await container.holds.place(drop.id, "ada", [sku_item(black_m.id, 2)])
    result = await container.checkout.start(hold.id, "ada", VISA)
    assert result.order is not None
    listing = (await ui.get("/ui")).text
    row = listing.split(f'data-drop="{drop.id}"')[1].split("</tr>")[0]
    assert "2 / 120" in row and "USD 130.00" in row and "1.7 %" in row
    await container.fulfilment.apply_update(
        "wms", "t1", FulfilmentUpdate.SHIPPED, result.order.id,
        UpdateDetails("UPS", "1Z999", "https://track.example/1Z999"),
    )  # fmt: skip
    orders = (await ui.get("/ui/orders")).text
    assert orders.count('<tr data-order="') == 1
    row = orders.split('<tr data-order="')[1]
    assert "DL-1001" in row and ">Friday drop</a>" in row and f">{drop.id}<" not in row
    assert "UPS · " in row and ">1Z999</a>" in row
    assert "2 × Logo Hoodie — Black / M" in row


async def test_unknown_ids_get_a_page_not_json(ui: httpx.AsyncClient) -> None:
    for path in ("/ui/drops/drp_nope", "/ui/drops/drp_nope/report", "/ui/products/prd_nope",
                 "/ui/drops/drp_nope/setup", "/ui/no-such-page"):  # fmt: skip
        r = await ui.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert "<h1>Not found</h1>" in r.text and '"code"' not in r.text
    api = await ui.get("/v1/drops/drp_nope")  # the API keeps its problem+json
    assert api.headers["content-type"] == "application/problem+json"


async def test_archiving_from_the_product_page(ui: httpx.AsyncClient, container: Container) -> None:
    product, _ = await container.catalog.create_product_with_variants(
        "Tote", price_amount=2500, currency="USD"
    )
    page = f"/ui/products/{product.id}"
    assert await post(ui, page, f"/ui/products/{product.id}/archive", {}) == "info: Tote archived"
    assert "Tote" not in (await ui.get("/ui/products")).text.split("product-list")[-1]
    assert await post(ui, page, f"/ui/products/{product.id}/restore", {}) == "info: Tote restored"

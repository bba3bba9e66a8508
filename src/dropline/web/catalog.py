"""``/ui`` catalog: products (a new one with its size × colour matrix in one form), their
variants with stock and a receive form per variant, bundles; edit, archive, restore.

Every form posts with the session's CSRF token and comes back to its page with a flash:
what was done, or the domain error's detail (nothing half-done: each form is one use
case and one transaction)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from dropline.api.deps import ContainerDep
from dropline.domain.catalog.items import full_label
from dropline.domain.catalog.variants import SIZE_CHOICES, variant_key
from dropline.domain.errors import DroplineError, InvalidInput
from dropline.domain.money import parse_amount
from dropline.web.common import Csrf, back, page, require_login, require_post

router = APIRouter(prefix="/ui", include_in_schema=False)


def _words(text: str) -> list[str]:
    """``Black, Sand ,Forest`` → ``["Black", "Sand", "Forest"]``."""
    return [w.strip() for w in text.replace("\n", ",").split(",") if w.strip()]


@router.get("/products")
async def products_page(request: Request, c: ContainerDep, archived: bool = False) -> Response:
    s = await require_login(request, c)
    rows = []
    for p, skus in await c.catalog.list_products(archived=archived):
        prices = sorted({x.price for x in skus})
        rows.append({"product": p, "variants": len(skus), "prices": prices})
    return page(
        request, "products.html", s, rows=rows, archived=archived, size_choices=SIZE_CHOICES
    )


@router.post("/products")
async def create_product(
    request: Request,
    c: ContainerDep,
    csrf_token: Csrf = "",
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    price: Annotated[str, Form(max_length=40)] = "",
    currency: Annotated[str, Form(max_length=3)] = "USD",
    colours: Annotated[str, Form(max_length=2000)] = "",
    sizes: Annotated[list[str], Form()] = [],  # noqa: B006
    other_sizes: Annotated[str, Form(max_length=2000)] = "",
    code_prefix: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """One product and every colour × size variant of it, in one transaction."""
    await require_post(request, c, csrf_token)
    try:
        if not price.strip():
            raise InvalidInput("give the price of the variants, e.g. 65.00")
        product, skus = await c.catalog.create_product_with_variants(
            name,
            description=description,
            price_amount=parse_amount(price, currency),
            currency=currency,
            colours=_words(colours),
            sizes=[*sizes, *_words(other_sizes)],
            code_prefix=code_prefix,
        )
    except DroplineError as exc:
        return back("/ui/products", exc.detail, "error")
    n = len(skus)
    return back(
        f"/ui/products/{product.id}",
        f"{product.name} created with {n} variant{'s' if n != 1 else ''}: receive stock below",
    )


@router.get("/products/{product_id}")
async def product_page(product_id: str, request: Request, c: ContainerDep) -> Response:
    s = await require_login(request, c)
    product, skus = await c.catalog.get_product(product_id)
    levels = await c.stock.levels()
    variants = sorted(skus, key=lambda x: variant_key(product.name, x.attributes, x.code))
    return page(request, "product.html", s, product=product, variants=variants, levels=levels)


@router.post("/products/{product_id}/edit")
async def edit_product(
    product_id: str,
    request: Request,
    c: ContainerDep,
    csrf_token: Csrf = "",
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    await require_post(request, c, csrf_token)
    try:
        p = await c.catalog.edit_product(product_id, name=name, description=description)
    except DroplineError as exc:
        return back(f"/ui/products/{product_id}", exc.detail, "error")
    return back(f"/ui/products/{product_id}", f"{p.name} saved")


@router.post("/products/{product_id}/{action}")
async def archive_product(
    product_id: str, action: str, request: Request, c: ContainerDep, csrf_token: Csrf = ""
) -> Response:
    s = await require_post(request, c, csrf_token)
    if action not in ("archive", "restore"):
        return Response("unknown action", status_code=404)
    try:
        if action == "archive":
            p = await c.catalog.archive_product(product_id, actor=s.name)
        else:
            p = await c.catalog.restore_product(product_id, actor=s.name)
    except DroplineError as exc:
        return back(f"/ui/products/{product_id}", exc.detail, "error")
    return back(f"/ui/products/{product_id}", f"{p.name} {action}d")


@router.post("/skus/{sku_id}/receive")
async def receive_stock(
    sku_id: str,
    request: Request,
    c: ContainerDep,
    csrf_token: Csrf = "",
    quantity: Annotated[str, Form(max_length=12)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Units arriving at the warehouse for one variant (a receipt in the ledger)."""
    s = await require_post(request, c, csrf_token)
    sku = await c.catalog.get_sku(sku_id)
    to = f"/ui/products/{sku.product_id}"
    try:
        if not quantity.strip().isdigit():
            raise InvalidInput("the quantity is a whole number of units")
        level = await c.stock.receive(sku_id, int(quantity), actor=s.name, note=note)
        product, _ = await c.catalog.get_product(sku.product_id)
    except DroplineError as exc:
        return back(to, exc.detail, "error")
    return back(
        to, f"received {int(quantity):,} × {full_label(product.name, sku)}: "
        f"{level.available:,} available"
    )  # fmt: skip


@router.post("/skus/{sku_id}/edit")
async def edit_sku(
    sku_id: str,
    request: Request,
    c: ContainerDep,
    csrf_token: Csrf = "",
    price: Annotated[str, Form(max_length=40)] = "",
    bin_location: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    await require_post(request, c, csrf_token)
    sku = await c.catalog.get_sku(sku_id)
    to = f"/ui/products/{sku.product_id}"
    try:
        amount = parse_amount(price, sku.price.currency) if price.strip() else None
        done = await c.catalog.edit_sku(sku_id, price_amount=amount, bin_location=bin_location)
    except DroplineError as exc:
        return back(to, exc.detail, "error")
    return back(to, f"{done.code} saved: {done.price.format()}")


@router.post("/skus/{sku_id}/{action}")
async def archive_sku(
    sku_id: str, action: str, request: Request, c: ContainerDep, csrf_token: Csrf = ""
) -> Response:
    s = await require_post(request, c, csrf_token)
    if action not in ("archive", "restore"):
        return Response("unknown action", status_code=404)
    sku = await c.catalog.get_sku(sku_id)
    to = f"/ui/products/{sku.product_id}"
    try:
        if action == "archive":
            await c.catalog.archive_sku(sku_id, actor=s.name)
        else:
            await c.catalog.restore_sku(sku_id, actor=s.name)
    except DroplineError as exc:
        return back(to, exc.detail, "error")
    return back(to, f"{sku.code} {action}d")


@router.get("/bundles")
async def bundles_page(request: Request, c: ContainerDep, archived: bool = False) -> Response:
    s = await require_login(request, c)
    names: dict[str, str] = {}
    choices = []
    for p, skus in await c.catalog.list_products(archived=True):
        for x in skus:
            names[x.id] = full_label(p.name, x)
            if not x.archived and not p.archived:
                choices.append((variant_key(p.name, x.attributes, x.code), x))
    choices.sort(key=lambda t: t[0])
    return page(
        request,
        "bundles.html",
        s,
        bundles=await c.catalog.list_bundles(archived=archived),
        names=names,
        choices=[x for _, x in choices],
        archived=archived,
        slots=range(1, 5),
    )


@router.post("/bundles")
async def create_bundle(
    request: Request,
    c: ContainerDep,
    csrf_token: Csrf = "",
    code: Annotated[str, Form(max_length=80)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    price: Annotated[str, Form(max_length=40)] = "",
    currency: Annotated[str, Form(max_length=3)] = "USD",
) -> Response:
    """A bundle from up to four ``sku_<n>``/``qty_<n>`` rows of the form."""
    await require_post(request, c, csrf_token)
    form = await request.form()
    try:
        components = []
        for n in range(1, 5):
            sku_id = str(form.get(f"sku_{n}") or "")
            qty = str(form.get(f"qty_{n}") or "1").strip()
            if sku_id:
                if not qty.isdigit():
                    raise InvalidInput("a component quantity is a whole number")
                components.append((sku_id, int(qty)))
        if not price.strip():
            raise InvalidInput("give the bundle's price, e.g. 80.00")
        b = await c.catalog.create_bundle(
            code, name, parse_amount(price, currency), currency, components
        )
    except DroplineError as exc:
        return back("/ui/bundles", exc.detail, "error")
    return back("/ui/bundles", f"bundle {b.name} ({b.code}) created")


@router.post("/bundles/{bundle_id}/{action}")
async def archive_bundle(
    bundle_id: str, action: str, request: Request, c: ContainerDep, csrf_token: Csrf = ""
) -> Response:
    s = await require_post(request, c, csrf_token)
    if action not in ("archive", "restore"):
        return Response("unknown action", status_code=404)
    try:
        if action == "archive":
            b = await c.catalog.archive_bundle(bundle_id, actor=s.name)
        else:
            b = await c.catalog.restore_bundle(bundle_id, actor=s.name)
    except DroplineError as exc:
        return back("/ui/bundles", exc.detail, "error")
    return back("/ui/bundles", f"bundle {b.code} {action}d")

"""Domain and store records turned into response models."""

from __future__ import annotations

from dropline.api import schemas as s
from dropline.domain.catalog.items import Bundle, Product, Sku
from dropline.domain.live.drops import Drop, Offer
from dropline.domain.live.holds import Hold
from dropline.domain.stock.buckets import StockLevel
from dropline.services.live.drop_catalog import DropCatalog
from dropline.services.live.order_writes import CheckoutResult
from dropline.services.serialize import hold_dict, rfc3339
from dropline.store.live.order_records import CheckoutRecord, OrderRecord
from dropline.store.platform.access_repo import ApiKeyRecord


def sku(x: Sku) -> s.SkuOut:
    return s.SkuOut(
        id=x.id,
        product_id=x.product_id,
        code=x.code,
        price=s.MoneyOut(amount=x.price.amount, currency=x.price.currency),
        attributes=dict(x.attributes),
        safety_qty=x.safety_qty,
        safety_pct=x.safety_pct,
        bin_location=x.bin_location,
        archived=x.archived,
    )


def product(p: Product, skus: list[Sku]) -> s.ProductOut:
    return s.ProductOut(
        id=p.id,
        name=p.name,
        description=p.description,
        archived=p.archived,
        skus=[sku(x) for x in skus],
    )


def bundle(b: Bundle) -> s.BundleOut:
    return s.BundleOut(
        id=b.id,
        code=b.code,
        name=b.name,
        price=s.MoneyOut(amount=b.price.amount, currency=b.price.currency),
        components=[{"sku_id": c.sku_id, "quantity": c.quantity} for c in b.components],
        archived=b.archived,
    )


def level(lv: StockLevel) -> s.StockLevelOut:
    return s.StockLevelOut(
        sku_id=lv.sku_id,
        available=lv.available,
        committed=lv.committed,
        reserved=lv.reserved,
        safety=lv.safety,
        quality_control=lv.quality_control,
        damaged=lv.damaged,
        on_hand=lv.on_hand,
    )


def offer(o: Offer, catalog: DropCatalog | None = None) -> s.OfferOut:
    sku = catalog.skus.get(o.sku_id) if catalog else None
    return s.OfferOut(
        sku_id=o.sku_id,
        offered=o.offered,
        sold=o.sold,
        per_buyer_limit=o.per_buyer_limit,
        paused=o.paused,
        code=sku.code if sku else "",
        label=catalog.describe_sku(o.sku_id) if catalog and sku else "",
        price=s.MoneyOut(amount=sku.price.amount, currency=sku.price.currency) if sku else None,
    )


def drop_summary(currency: str, offered: int, sold: int, revenue: int) -> s.DropSummaryOut:
    return s.DropSummaryOut(
        offered=offered,
        sold=sold,
        sell_through_pct=round(100.0 * sold / offered, 1) if offered else None,
        revenue=s.MoneyOut(amount=revenue, currency=currency),
    )


def drop(
    d: Drop,
    offers: dict[str, Offer] | None = None,
    bundle_ids: list[str] | None = None,
    catalog: DropCatalog | None = None,
    summary: s.DropSummaryOut | None = None,
) -> s.DropOut:
    """A drop; with its ``catalog`` each offer also carries the SKU's code, label and
    price, in variant order (sizes small to large)."""
    ordered = list((offers or {}).values())
    if catalog is not None:
        ordered.sort(key=lambda o: catalog.sort_key(o.sku_id))
    return s.DropOut(
        id=d.id,
        name=d.name,
        currency=d.currency,
        status=d.status.value,
        hold_ttl_s=d.hold_ttl_s,
        starts_at=rfc3339(d.starts_at),
        ends_at=rfc3339(d.ends_at),
        version=d.version,
        offers=[offer(o, catalog) for o in ordered],
        bundle_ids=bundle_ids or [],
        summary=summary,
    )


def hold(h: Hold) -> s.HoldOut:
    return s.HoldOut(**hold_dict(h))


def order(o: OrderRecord) -> s.OrderOut:
    return s.OrderOut(
        id=o.id,
        number=o.number,
        drop_id=o.drop_id,
        buyer_id=o.buyer_id,
        hold_id=o.hold_id,
        checkout_id=o.checkout_id,
        status=o.status.value,
        status_reason=o.status_reason,
        total=s.MoneyOut(amount=o.total_amount, currency=o.currency),
        refunded_amount=o.refunded_amount,
        provider=o.provider,
        payment_id=o.payment_id,
        attribution=o.attribution,
        paid_at=rfc3339(o.paid_at),
        version=o.version,
        lines=[s.OrderLineOut(**ln.__dict__) for ln in o.lines],
    )


def checkout(c: CheckoutRecord, result: CheckoutResult | None = None) -> s.CheckoutOut:
    return s.CheckoutOut(
        id=c.id,
        hold_id=c.hold_id,
        drop_id=c.drop_id,
        status=c.status.value,
        amount=s.MoneyOut(amount=c.amount, currency=c.currency),
        provider=c.provider,
        payment_id=c.payment_id,
        decline_code=c.decline_code,
        failure_reason=c.failure_reason,
        order_id=c.order_id,
        next_action=result.next_action if result else None,
        order=order(result.order) if result and result.order else None,
    )


def api_key(k: ApiKeyRecord, raw: str | None = None) -> s.ApiKeyOut:
    return s.ApiKeyOut(
        id=k.id,
        name=k.name,
        prefix=k.prefix,
        scope=sorted(k.scopes)[0],
        created_at=rfc3339(k.created_at),
        revoked_at=rfc3339(k.revoked_at),
        expires_at=rfc3339(k.expires_at),
        last_used_at=rfc3339(k.last_used_at),
        replaced_by=k.replaced_by,
        key=raw,
    )

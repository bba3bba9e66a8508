"""Request and response bodies. Integers are strict: ``"1"`` or ``1.5`` is refused.

Every integer has bounds its column can hold, and request bodies derive from ``Strict``
(``api/strict.py``): unknown fields and text the database cannot store are refused.

Integers are JSON integers only, in every body: ``5.0``, ``true`` and ``"5"`` are
refused (``StrictInt``; in a query or a path ``api/fields.QueryInt``). Times are RFC 3339
text with a zone (``api/fields.Rfc3339``). Enum-like strings are the domain's enums, so
the OpenAPI document lists their values.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Discriminator, Field, StrictInt, Tag

from dropline.api.fields import Rfc3339, Scope
from dropline.api.routers.fulfilment.schemas import ShipToIn
from dropline.api.strict import Strict as Strict  # re-exported: routers build on it
from dropline.domain.inputs import INT_MAX
from dropline.domain.live.drops import DropStatus
from dropline.domain.live.holds import HoldItem, HoldStatus, ItemKind
from dropline.domain.live.orders import CheckoutStatus, OrderStatus
from dropline.domain.stock.buckets import Bucket

Qty = Annotated[StrictInt, Field(ge=1, le=1000, description="1 to 1000")]
StockQty = Annotated[StrictInt, Field(ge=1, le=10_000_000)]
Amount = Annotated[StrictInt, Field(ge=0, le=10_000_000_000, description="minor units")]
Currency = Annotated[str, Field(min_length=3, max_length=3, examples=["USD"])]
Text = Annotated[str, Field(max_length=2000)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
# A spec version, an order line number: counted from 1, stored in an Integer column.
Ordinal = Annotated[StrictInt, Field(ge=1, le=INT_MAX)]


class MoneyIn(Strict):
    amount: Amount
    currency: Currency


class MoneyOut(BaseModel):
    amount: int
    currency: str


class ProductIn(Strict):
    name: Name
    description: Text = ""


class SkuIn(Strict):
    code: Annotated[str, Field(min_length=1, max_length=80, examples=["HOOD-BLK-M"])]
    price: MoneyIn
    attributes: dict[
        Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=80)]
    ] = {}
    safety_qty: Annotated[StrictInt, Field(ge=0, le=10_000_000)] = 0
    safety_pct: Annotated[StrictInt, Field(ge=0, le=100)] = 0
    bin_location: Annotated[str, Field(max_length=40)] = ""


class SkuOut(BaseModel):
    id: str
    product_id: str
    code: str
    price: MoneyOut
    attributes: dict[str, str]
    safety_qty: int
    safety_pct: int
    bin_location: str
    archived: bool = False


class ProductOut(BaseModel):
    id: str
    name: str
    description: str
    archived: bool = False
    skus: list[SkuOut] = []


class ProductEdit(Strict):
    """The fields to change; those left out stay as they are."""

    name: Name | None = None
    description: Text | None = None


class SkuEdit(Strict):
    """The fields to change; those left out stay as they are. The price's currency is
    the SKU's own (a price change is refused while a drop selling it is live)."""

    code: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    price_amount: Amount | None = None
    attributes: (
        dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=80)]] | None
    ) = None
    bin_location: Annotated[str, Field(max_length=40)] | None = None


class BundleEdit(Strict):
    """The fields to change; components never change (archive and make another)."""

    name: Name | None = None
    price_amount: Amount | None = None


class ComponentIn(Strict):
    sku_id: str
    quantity: Qty


class BundleIn(Strict):
    code: Annotated[str, Field(min_length=1, max_length=80)]
    name: Name
    price: MoneyIn
    components: Annotated[list[ComponentIn], Field(min_length=1, max_length=20)]


class BundleOut(BaseModel):
    id: str
    code: str
    name: str
    price: MoneyOut
    components: list[dict[str, Any]]
    archived: bool = False


class StockLevelOut(BaseModel):
    sku_id: str
    available: int
    committed: int
    reserved: int
    safety: int
    quality_control: int
    damaged: int
    on_hand: int


class ReceiptIn(Strict):
    quantity: StockQty
    bucket: Bucket = Bucket.AVAILABLE
    note: Text = ""
    ref: Annotated[str, Field(max_length=60)] = ""
    bin: Annotated[str, Field(min_length=1, max_length=44)] | None = Field(
        None, description="the bin (id or code) the units go into; omit: unplaced"
    )


class AdjustmentIn(Strict):
    quantity: StockQty
    from_bucket: Bucket | None = None
    to_bucket: Bucket | None = None
    note: Annotated[str, Field(min_length=1, max_length=2000)]


class CountIn(Strict):
    bucket: Bucket = Bucket.AVAILABLE
    counted: Annotated[StrictInt, Field(ge=0, le=10_000_000)]
    note: Annotated[str, Field(min_length=1, max_length=2000)]


class SafetyIn(Strict):
    quantity: Annotated[StrictInt, Field(ge=0, le=10_000_000)] = 0
    percent: Annotated[StrictInt, Field(ge=0, le=100)] = 0


class DropIn(Strict):
    name: Name
    currency: Currency
    hold_ttl_s: Annotated[StrictInt, Field(ge=10, le=3600)] = 90
    starts_at: Rfc3339 | None = Field(
        None, description="RFC 3339, UTC; once scheduled the drop goes live at this time"
    )
    ends_at: Rfc3339 | None = Field(
        None, description="RFC 3339, UTC, after starts_at; the drop ends at this time"
    )


class OfferIn(Strict):
    quantity: Annotated[StrictInt, Field(ge=0, le=10_000_000)]
    per_buyer_limit: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None


class TransitionIn(Strict):
    to: DropStatus
    override_reason: Annotated[str, Field(max_length=2000)] = Field(
        "",
        description="going live while the enforced readiness gate blocks: why it may anyway "
        "(kept in the drop's history)",
    )


class DropBundleIn(Strict):
    bundle_id: str


class DropEdit(Strict):
    """The fields to change. ``starts_at`` and ``hold_ttl_s`` only before going live;
    ``"starts_at": null`` clears the start time."""

    name: Name | None = None
    starts_at: str | None = Field(None, description="RFC 3339, UTC")
    hold_ttl_s: Annotated[StrictInt, Field(ge=10, le=3600)] | None = None


class OfferOut(BaseModel):
    sku_id: str
    offered: int
    sold: int
    per_buyer_limit: int | None
    paused: bool
    code: str = ""
    label: str = Field("", description="product and variant: Logo Hoodie — Black / M")
    price: MoneyOut | None = None


class DropSummaryOut(BaseModel):
    offered: int
    sold: int
    sell_through_pct: float | None
    revenue: MoneyOut


class DropOut(BaseModel):
    id: str
    name: str
    currency: str
    status: DropStatus
    hold_ttl_s: int
    starts_at: str | None
    ends_at: str | None = None
    version: int
    offers: list[OfferOut] = []
    bundle_ids: list[str] = []
    summary: DropSummaryOut | None = None


class SkuItemIn(Strict):
    """Units of one SKU. ``bundle_id`` may be sent, as null only."""

    sku_id: str
    bundle_id: None = None
    quantity: Qty = 1


class BundleItemIn(Strict):
    """Units of one bundle. ``sku_id`` may be sent, as null only."""

    bundle_id: str
    sku_id: None = None
    quantity: Qty = 1


def _item_kind(value: Any) -> str | None:
    """Which item a hold line is: exactly one of ``sku_id`` / ``bundle_id`` is given
    (not null); anything else matches neither (``one_item_ref``)."""
    if isinstance(value, dict):
        sku, bundle = value.get("sku_id") is not None, value.get("bundle_id") is not None
        return "sku" if sku and not bundle else "bundle" if bundle and not sku else None
    if isinstance(value, (SkuItemIn, BundleItemIn)):
        return "sku" if isinstance(value, SkuItemIn) else "bundle"
    return None


#: A hold line: ``oneOf`` a SKU item and a bundle item in the OpenAPI document.
HoldItemIn = Annotated[
    Annotated[SkuItemIn, Tag("sku")] | Annotated[BundleItemIn, Tag("bundle")],
    Discriminator(
        _item_kind,
        custom_error_type="one_item_ref",
        custom_error_message="give exactly one of sku_id or bundle_id",
    ),
]


class HoldIn(Strict):
    items: Annotated[list[HoldItemIn], Field(min_length=1, max_length=20)]
    attribution: dict[str, str] = Field(
        default_factory=dict,
        description="channel (live, clip, email, social, ad, pop-up), utm_*, promo_code, "
        "affiliate, creator",
    )

    def hold_items(self) -> list[HoldItem]:
        """The items as the domain sees them (the route and the hot path share this)."""
        return [
            HoldItem(ItemKind.BUNDLE, i.bundle_id, i.quantity)
            if isinstance(i, BundleItemIn)
            else HoldItem(ItemKind.SKU, i.sku_id, i.quantity)
            for i in self.items
        ]


class HoldOut(BaseModel):
    id: str
    drop_id: str
    buyer_id: str
    status: HoldStatus
    items: list[dict[str, Any]]
    units: dict[str, int]
    created_at: str | None
    expires_at: str | None
    extended: bool
    attribution: dict[str, str]
    version: int


class CheckoutIn(Strict):
    hold_id: str
    payment_method: Annotated[
        str,
        Field(
            min_length=1,
            max_length=80,
            description="Provider token (Stripe: pm_...). Sandbox: a test card number such "
            "as 4242424242424242, or pm_card_visa",
        ),
    ]
    shipping: ShipToIn | None = Field(
        None, description="ship-to and service level; optional, needed by the warehouse"
    )


class OrderLineOut(BaseModel):
    line_no: int
    kind: ItemKind
    ref_id: str
    description: str
    quantity: int
    unit_amount: int
    currency: str
    line_amount: int


class OrderOut(BaseModel):
    id: str
    number: str = Field(
        "", description="the short human order number (DL-1042) for messages and people"
    )
    drop_id: str
    buyer_id: str
    hold_id: str
    checkout_id: str
    status: OrderStatus
    status_reason: str
    total: MoneyOut
    refunded_amount: int
    provider: str
    payment_id: str
    attribution: dict[str, str]
    paid_at: str | None
    version: int
    lines: list[OrderLineOut]


class CheckoutOut(BaseModel):
    id: str
    hold_id: str
    drop_id: str
    status: CheckoutStatus
    amount: MoneyOut
    provider: str
    payment_id: str | None
    decline_code: str | None
    failure_reason: str | None
    order_id: str | None
    next_action: dict[str, Any] | None = None
    order: OrderOut | None = None


class ApiKeyIn(Strict):
    name: Name
    scope: Scope
    expires_at: AwareDatetime | None = Field(
        None, description="the key stops working at this time (RFC 3339); none: never"
    )


class ApiKeyRotateIn(Strict):
    grace_s: Annotated[
        StrictInt,
        Field(ge=0, le=30 * 86400, description="seconds the old key keeps working"),
    ] = 86400
    expires_at: AwareDatetime | None = Field(None, description="the new key's expiry")


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    scope: Scope
    created_at: str | None
    revoked_at: str | None
    expires_at: str | None = None
    last_used_at: str | None = Field(
        None, description="last use, recorded at most once a minute (may lag a minute)"
    )
    replaced_by: str | None = Field(None, description="the key a rotation issued in its place")
    key: str | None = Field(None, description="the secret, shown only when created")

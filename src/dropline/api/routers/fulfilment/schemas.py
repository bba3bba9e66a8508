"""Request and response bodies for webhooks, fulfilment and buyer messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt

from dropline.api.fields import Rfc3339
from dropline.api.strict import Strict
from dropline.domain.fulfilment.rules import DeliveryStatus, MessageStatus

Short = Annotated[str, Field(max_length=200)]
#: ``domain/fulfilment/rules.SERVICE_LEVELS`` (the contract test checks they agree).
ServiceLevel = Literal["standard", "express", "overnight", "economy", "pickup"]


class ShipToIn(Strict):
    """Where the order ships. Optional at checkout; the WMS needs name, line1, city,
    postal_code and country, and buyer messages go to ``email``."""

    name: Short = ""
    line1: Short = ""
    line2: Short = ""
    city: Annotated[str, Field(max_length=120)] = ""
    region: Annotated[str, Field(max_length=120)] = ""
    postal_code: Annotated[str, Field(max_length=40)] = ""
    country: Annotated[str, Field(max_length=2, description="ISO 3166-1 alpha-2")] = ""
    email: Annotated[str, Field(max_length=254)] = ""
    phone: Annotated[str, Field(max_length=40)] = ""
    service_level: ServiceLevel = "standard"


class EndpointIn(Strict):
    url: Annotated[
        str, Field(min_length=8, max_length=2000, examples=["https://wms.example/hooks"])
    ]
    event_types: Annotated[
        list[Annotated[str, Field(max_length=80)]],
        Field(min_length=1, max_length=100, examples=[["order.*"]]),
    ]
    description: Short = ""
    warehouse: StrictBool = Field(
        False, description="its 2xx to order.ready_to_fulfill hands the order off"
    )


class EndpointPatch(Strict):
    url: Annotated[str | None, Field(max_length=2000)] = None
    event_types: Annotated[
        list[Annotated[str, Field(max_length=80)]] | None, Field(max_length=100)
    ] = None
    description: Annotated[str | None, Field(max_length=200)] = None
    enabled: StrictBool | None = None
    warehouse: StrictBool | None = None


class RotateIn(Strict):
    overlap_s: Annotated[
        StrictInt,
        Field(ge=0, le=604800, description="seconds the old secret keeps signing too"),
    ] = 86400


class EndpointOut(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    warehouse: bool
    disabled_reason: str
    consecutive_failures: int
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    secret: str | None = Field(None, description="only in the create/rotate response")


class AttemptOut(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    response_excerpt: str
    error: str


class DeliveryOut(BaseModel):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptOut] | None = None


class ReplayIn(Strict):
    since: Rfc3339 = Field(description="replay failed and dead deliveries created since")
    endpoint_id: str | None = None


class ReplayOut(BaseModel):
    replayed: int


class UpdateOut(BaseModel):
    order_id: str
    status: str
    applied: bool = Field(description="false: this event id was applied before")


class ImportRowError(BaseModel):
    line: int
    code: str
    detail: str


class ImportOut(BaseModel):
    applied: int
    duplicates: int
    errors: list[ImportRowError]


class MessageOut(BaseModel):
    id: str
    event_id: str
    kind: str
    order_id: str | None
    to_email: str
    subject: str
    text_body: str
    html_body: str
    status: MessageStatus
    attempts: int
    last_error: str
    sent_at: datetime | None
    created_at: datetime


class SlaOrder(BaseModel):
    order_id: str
    drop_id: str
    status: str
    stage: str
    service_level: str
    paid_at: str | None
    ship_by: str | None
    hours_left: float


class SlaOut(BaseModel):
    as_of: str | None
    at_risk: list[SlaOrder]
    breached: list[SlaOrder]


class ShipmentOut(BaseModel):
    ship_to: dict[str, str]
    service_level: str
    ship_by: str | None
    stage: str
    carrier: str
    tracking_number: str
    tracking_url: str
    shipped_at: str | None
    delivered_at: str | None


class PickRow(BaseModel):
    bin_location: str
    sku_code: str
    sku_id: str
    description: str
    quantity: int
    order_count: int


class PickListOut(BaseModel):
    drop: dict[str, Any]
    generated_at: str | None
    order_count: int
    unit_count: int
    rows: list[PickRow]

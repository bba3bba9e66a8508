"""What the warehouse is told about an order: the shipment as the API and the events show
it, and ``order.ready_to_fulfill`` (lines to pick, ship-to, ship-by), the hand-off."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dropline.domain.events import DomainEvent
from dropline.services.serialize import rfc3339
from dropline.store.live.order_records import OrderRecord

Row = dict[str, Any]
READY = "order.ready_to_fulfill"


def shipment_view(ship: Mapping[str, Any] | None) -> dict[str, Any]:
    ship = ship or {}
    return {
        "ship_to": {
            k: ship.get(k, "")
            for k in (
                "name",
                "line1",
                "line2",
                "city",
                "region",
                "postal_code",
                "country",
                "email",
                "phone",
            )
        },
        "service_level": ship.get("service_level", "standard"),
        "ship_by": rfc3339(ship.get("ship_by")),
        "stage": ship.get("stage", ""),
        "carrier": ship.get("carrier", ""),
        "tracking_number": ship.get("tracking_number", ""),
        "tracking_url": ship.get("tracking_url", ""),
        "shipped_at": rfc3339(ship.get("shipped_at")),
        "delivered_at": rfc3339(ship.get("delivered_at")),
    }


def ready_event(
    order: OrderRecord,
    ship: Row | None,
    lines: Sequence[Row],
    flag: Mapping[str, Any],
    event_id: str,
) -> DomainEvent:
    """``order.ready_to_fulfill``: what the warehouse needs to pick, pack and ship."""
    view = shipment_view(ship)
    return DomainEvent(
        READY,
        "order",
        order.id,
        order.version,
        dict(flag)
        | {
            "id": order.id,
            "drop_id": order.drop_id,
            "buyer_id": order.buyer_id,
            "status": order.status.value,
            "paid_at": rfc3339(order.paid_at),
            "ship_by": view["ship_by"],
            "service_level": view["service_level"],
            "ship_to": view["ship_to"],
            "currency": order.currency,
            "total_amount": order.total_amount,
            "lines": [
                {
                    k: ln[k]
                    for k in (
                        "sku_id",
                        "sku_code",
                        "bin_location",
                        "description",
                        "quantity",
                        "order_line",
                    )
                }
                for ln in lines
            ],
        },
        id=event_id,
    )

"""Test helpers for fulfilment: a real HTTP webhook receiver on 127.0.0.1 that verifies
Standard Webhooks signatures with the reference library, and an order factory."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from dropline.bootstrap import Container
from dropline.domain.fulfilment.rules import ShipTo
from dropline.store.live.order_records import OrderRecord
from support import Shop, sku_item

VISA = "4242424242424242"
SHIP_TO = ShipTo(
    name="Ada Lovelace",
    line1="1 Analytical Way",
    city="London",
    postal_code="N1 9GU",
    country="GB",
    email="ada@example.com",
    service_level="express",
)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified_with: list[int]  # indexes of the receiver's secrets that verified it

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """A tiny HTTP/1.1 server: answers ``status`` (or the next of ``script``), records
    every request and which of ``secrets`` verify its signature."""

    secrets: list[str] = field(default_factory=list)
    status: int = 200
    script: list[int] = field(default_factory=list)
    fail_ids: dict[str, int] = field(default_factory=dict)  # data.id -> failures left
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def verified(self) -> list[Received]:
        return [r for r in self.received if r.verified_with]

    def types(self) -> list[str]:
        return [r.json["type"] for r in self.received]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()  # request line
            headers: dict[str, str] = {}
            while True:
                line = (await reader.readline()).decode("latin-1").strip()
                if not line:
                    break
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            ok = []
            for i, secret in enumerate(self.secrets):
                try:
                    Webhook(secret).verify(body, headers)
                    ok.append(i)
                except WebhookVerificationError:
                    pass
            self.received.append(Received(headers, body, ok))
            status = self.script.pop(0) if self.script else self.status
            data_id = json.loads(body).get("data", {}).get("id")
            if self.fail_ids.get(data_id, 0) > 0:
                self.fail_ids[data_id] -= 1
                status = 500
            reply = b'{"ok":true}'
            writer.write(
                f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                f"content-length: {len(reply)}\r\nconnection: close\r\n\r\n".encode()
                + reply
            )
            await writer.drain()
        finally:
            writer.close()


async def paid_order(
    c: Container, shop: Shop, buyer: str, qty: int = 1, ship: ShipTo | None = SHIP_TO
) -> OrderRecord:
    hold = await c.holds.place(shop.drop_id, buyer, [sku_item(shop.skus[0], qty)])
    result = await c.checkout.start(hold.id, buyer, VISA, ship)
    assert result.order is not None
    return result.order


async def order_status(c: Container, order_id: str) -> str:
    async with c.uow(readonly=True) as uow:
        order = await uow.orders.get_order(order_id)
    assert order is not None
    return order.status.value


async def outbox_types(c: Container, aggregate_id: str) -> list[str]:
    async with c.uow(readonly=True) as uow:
        return [e["type"] for e in await uow.outbox.list(aggregate_id=aggregate_id)]

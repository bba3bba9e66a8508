"""The running server (a separate ``dropline serve`` process) with its in-process jobs:
checkout → signed webhooks to a real receiver → hand-off → buyer messages."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backends import free_port
from fulfilment_support import Receiver

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent / "dropline"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = {
        **os.environ,
        "DROPLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
        "DROPLINE_PORT": str(port),
        "DROPLINE_WEBHOOK_INTERVAL_S": "0.1",
        "DROPLINE_MESSAGE_INTERVAL_S": "0.1",
    }
    subprocess.run([BIN, "db", "upgrade"], env=env, check=True, capture_output=True)
    demo = subprocess.run([BIN, "demo"], env=env, check=True, capture_output=True, text=True)
    info: dict[str, str] = {}
    for line in demo.stdout.splitlines():
        key, _, value = line.strip().partition(":")
        info[key.strip()] = value.strip()
        if line.startswith("demo drop"):
            info["drop"] = line.split()[2]
    proc = subprocess.Popen(
        [BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/healthz", timeout=0.5).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base, info
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_paid_order_reaches_the_warehouse_and_the_buyer(
    server: tuple[str, dict[str, str]],
) -> None:
    base, info = server
    receiver = Receiver()
    await receiver.start()
    admin = {"Authorization": f"Bearer {info['admin key']}"}
    buyer = {
        "Authorization": f"Bearer {info['storefront key']}",
        "X-Buyer-Token": info["buyer token"],
    }
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            ep = await c.post(
                "/v1/webhook-endpoints",
                json={"url": receiver.url, "event_types": ["order.*"], "warehouse": True},
                headers=admin,
            )
            receiver.secrets.append(ep.json()["secret"])
            drop = info["drop"]
            public = (await c.get(f"/v1/drops/{drop}/public", headers=admin)).json()
            sku = public["products"][0]["skus"][0]["id"]
            hold = await c.post(
                f"/v1/drops/{drop}/holds", json={"items": [{"sku_id": sku}]}, headers=buyer
            )
            paid = await c.post(
                "/v1/checkouts",
                json={
                    "hold_id": hold.json()["id"],
                    "payment_method": "4242424242424242",
                    "shipping": {"name": "Ada L", "country": "GB", "email": "ada@example.com"},
                },
                headers=buyer,
            )
            order_id = paid.json()["order_id"]
            status = ""
            for _ in range(100):  # the server's own jobs deliver; poll, do not sleep blindly
                status = (await c.get(f"/v1/orders/{order_id}", headers=admin)).json()["status"]
                kinds = {
                    m["kind"]
                    for m in (
                        await c.get("/v1/messages", params={"order_id": order_id}, headers=admin)
                    ).json()
                    if m["status"] == "stored"
                }
                if status == "handed_off" and kinds == {"order_confirmed", "preparing"}:
                    break
                await asyncio.sleep(0.1)
            assert status == "handed_off"
            assert kinds == {"order_confirmed", "preparing"}
            assert receiver.types()[:2] == ["order.paid", "order.ready_to_fulfill"]
            assert all(r.verified_with == [0] for r in receiver.received)
    finally:
        await receiver.stop()

"""A real dropline server in a subprocess for the monitor's browser and stream tests,
seeded with two live drops, plus the helpers to drive it over HTTP."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from backends import free_port
from dropline.bootstrap import build
from dropline.config import Settings
from dropline.domain.live.drops import DropStatus
from dropline.services.platform.access import mint_buyer_token

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECRET = "monitor-test-buyer-secret"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def require_chromium() -> None:
    """Skip without the system Chromium, except under CI=true where that fails."""
    if Path(CHROMIUM).exists():
        return
    if IN_CI:
        pytest.fail(f"{CHROMIUM} is required when CI=true (make test installs it)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")


@dataclass
class SeededDrop:
    id: str
    skus: dict[str, str]  # label → sku id


@dataclass
class Server:
    url: str
    admin_key: str
    ops_key: str
    storefront_key: str
    drops: dict[str, SeededDrop] = field(default_factory=dict)

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        # generous: a loaded 2-core CI machine can take seconds to build a report
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def hold(self, drop_id: str, buyer: str, sku_id: str, qty: int = 1) -> httpx.Response:
        with self.client(self.storefront_key) as http:
            return http.post(
                f"/v1/drops/{drop_id}/holds",
                json={"items": [{"sku_id": sku_id, "quantity": qty}]},
                headers={"X-Buyer-Token": mint_buyer_token(SECRET, buyer)},
            )

    def buy(self, drop_id: str, buyer: str, sku_id: str, qty: int = 1) -> httpx.Response:
        hold = self.hold(drop_id, buyer, sku_id, qty)
        assert hold.status_code == 201, hold.text
        with self.client(self.storefront_key) as http:
            return http.post(
                "/v1/checkouts",
                json={"hold_id": hold.json()["id"], "payment_method": "4242424242424242"},
                headers={"X-Buyer-Token": mint_buyer_token(SECRET, buyer)},
            )


async def _seed(url: str) -> tuple[list[str], dict[str, SeededDrop]]:
    c = await build(Settings(database_url=url, background_tasks=False))
    try:
        keys = [
            (await c.access.create_key("test admin", "admin"))[0],
            (await c.access.create_key("test ops", "ops"))[0],
            (await c.access.create_key("test storefront", "storefront"))[0],
        ]
        drops: dict[str, SeededDrop] = {}
        for name in ("monitor", "report", "sim", "spare", "orders"):
            product = await c.catalog.create_product(f"Logo Hoodie {name}")
            skus = {}
            for size in ("M", "L"):
                sku = await c.catalog.create_sku(
                    product.id,
                    f"HD-{name.upper()}-BLK-{size}",
                    6000,
                    "USD",
                    {"colour": "Black", "size": size},
                )
                await c.stock.receive(sku.id, 30)
                skus[f"Black / {size}"] = sku.id
            drop = await c.drops.create(f"{name.title()} drop", "USD")
            for sku_id in skus.values():
                await c.drops.set_offer(drop.id, sku_id, 20)
            await c.drops.transition(drop.id, DropStatus.SCHEDULED)
            await c.drops.transition(drop.id, DropStatus.LIVE)
            drops[name] = SeededDrop(drop.id, skus)
        return keys, drops
    finally:
        await c.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Server]:
    """A migrated SQLite file, seeded, then served by ``dropline serve`` on a free port."""
    path = tmp_path_factory.mktemp("monitor-server") / "dropline.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    # In a thread of its own: Playwright's sync API may already run a loop in this one.
    with ThreadPoolExecutor(1) as pool:
        (admin, ops, store), drops = pool.submit(asyncio.run, _seed(url)).result()
    port = free_port()
    env = os.environ | {
        "DROPLINE_DATABASE_URL": url,
        "DROPLINE_PORT": str(port),
        "DROPLINE_HOST": "127.0.0.1",
        "DROPLINE_BUYER_TOKEN_SECRET": SECRET,
        "DROPLINE_LOG_LEVEL": "warning",
        "DROPLINE_DATA_DIR": str(path.parent),
    }
    log = (path.parent / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dropline", "serve"], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(
                    "server did not start: " + (path.parent / "server.log").read_text()
                )
            time.sleep(0.1)
        yield Server(base, admin, ops, store, drops)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

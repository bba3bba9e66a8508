"""docs/deploy.md's localstripe setup must work as written: its ``export`` lines start a
real ``dropline serve`` on the Stripe provider, and a checkout pays.

With the settings the page gave before, every checkout was a 502 ("Unexpected
automatic_payment_methods"): the provider sends that parameter to real Stripe, and
localstripe rejects it. localstripe itself runs through the suite's launcher (the same
server on a free port, not saving its store to /tmp) instead of the page's first line.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from e2e.server import DroplineServer, seed_drop
from prod_support import localstripe

ROOT = Path(__file__).resolve().parents[2]
DOC_PORT = "8420"
pytestmark = pytest.mark.e2e


def documented_blocks() -> list[str]:
    """The bash blocks of the deploy guide's localstripe section."""
    doc = (ROOT / "docs" / "deploy.md").read_text()
    section = doc.split("### Trying Stripe offline with localstripe", 1)[1].split("\n## ")[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def created_card(card_block: str, stripe_url: str) -> list[str]:
    """The documented ``curl`` that creates a card, run against ``stripe_url``: its id."""
    if shutil.which("curl") is None:
        return []
    made = subprocess.run(
        ["bash", "-c", card_block.replace(f"http://127.0.0.1:{DOC_PORT}", stripe_url)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    card_id: str = json.loads(made.stdout)["id"]
    return [card_id]


async def pay(srv: DroplineServer, methods: list[str]) -> None:
    """A drop over HTTP, then one hold and checkout per payment method: each is paid."""
    async with httpx.AsyncClient(base_url=srv.base_url, timeout=30) as client:
        shop = await seed_drop(client, srv.admin_key, skus={"m": 5})
        for n, method in enumerate(methods):
            buyer = {
                "Authorization": f"Bearer {shop.storefront_key}",
                "X-Buyer-Token": srv.buyer_token(f"buyer-{n}"),
            }
            hold = await client.post(
                f"/v1/drops/{shop.drop_id}/holds",
                json={"items": [{"sku_id": shop.skus["m"]}]},
                headers=buyer,
            )
            assert hold.status_code == 201, hold.text
            paid = await client.post(
                "/v1/checkouts",
                json={"hold_id": hold.json()["id"], "payment_method": method},
                headers=buyer,
            )
            assert paid.status_code == 201, paid.text
            order = paid.json()["order"]
            assert order["status"] == "paid" and order["provider"] == "stripe"
            assert order["payment_id"].startswith("pi_")


def test_documented_localstripe_setup_pays_on_a_real_server(tmp_path: Path) -> None:
    setup, card_block = documented_blocks()
    lines = setup.strip().splitlines()
    assert lines[0] == f".venv/bin/localstripe --port {DOC_PORT} --from-scratch &"
    assert lines[-1] == ".venv/bin/dropline serve"
    env = dict(re.findall(r"^export (DROPLINE_\w+)=(\S+)$", setup, re.M))
    assert len(env) == len(lines) - 2  # every other line is an export we apply
    assert env["DROPLINE_STRIPE_API_BASE"] == f"http://127.0.0.1:{DOC_PORT}"
    with localstripe(tmp_path) as stripe_url:
        env["DROPLINE_STRIPE_API_BASE"] = stripe_url
        methods = ["pm_card_visa", *created_card(card_block, stripe_url)]
        with DroplineServer(tmp_path / "server", env=env) as srv:
            asyncio.run(pay(srv, methods))

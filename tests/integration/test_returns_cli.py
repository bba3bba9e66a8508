"""``dropline returns`` and ``dropline orders cancel`` on a seeded SQLite database."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dropline.bootstrap import build
from dropline.cli.app import app
from dropline.config import Settings
from dropline.domain.fulfilment.rules import FulfilmentUpdate
from dropline.services.fulfilment.shipping import UpdateDetails
from fulfilment_support import paid_order
from support import seed_shop


async def _seed(url: str) -> tuple[str, str, str]:
    """A drop with one shipped order of 2 units and one paid order of 1."""
    c = await build(Settings(database_url=url, background_tasks=False))
    try:
        shop = await seed_shop(c, units=5)
        shipped = await paid_order(c, shop, "ann", 2)
        await c.fulfilment.apply_update(
            "wms", "s1", FulfilmentUpdate.SHIPPED, shipped.id, UpdateDetails("UPS", "1Z")
        )
        unshipped = await paid_order(c, shop, "bob", 1)
        return shop.drop_id, shipped.id, unshipped.id
    finally:
        await c.close()


async def _state(url: str, order_id: str) -> tuple[str, int]:
    c = await build(Settings(database_url=url, background_tasks=False))
    try:
        async with c.uow(readonly=True) as uow:
            o = await uow.orders.get_order(order_id)
        assert o is not None
        return o.status.value, o.refunded_amount
    finally:
        await c.close()


def test_returns_and_cancel_commands(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop_id, shipped, unshipped = asyncio.run(_seed(sqlite_url))
    monkeypatch.setenv("DROPLINE_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    env = {"COLUMNS": "200"}

    out = runner.invoke(app, ["returns", "request", shipped, "--line", "1:2:defective"], env=env)
    assert out.exit_code == 0, out.output
    found = re.search(r"Return (ret_\w+) of order", out.output)
    assert found and "requested" in out.output and "50.00" in out.output
    ret = found.group(1)

    out = runner.invoke(app, ["returns", "receive", ret, "--disposition", "1=scrap"], env=env)
    assert out.exit_code == 0, out.output
    assert "refunded" in out.output and "scrap" in out.output
    assert asyncio.run(_state(sqlite_url, shipped)) == ("refunded", 5000)

    out = runner.invoke(app, ["returns", "list", "--drop", drop_id], env=env)
    assert out.exit_code == 0 and "1 returns" in out.output and ret in out.output

    out = runner.invoke(app, ["orders", "cancel", unshipped, "--reason", "buyer asked"], env=env)
    assert out.exit_code == 0, out.output
    assert "refunded" in out.output
    assert asyncio.run(_state(sqlite_url, unshipped)) == ("refunded", 2500)

    # Bad input is refused with a teaching message and changes nothing.
    bad = runner.invoke(app, ["returns", "request", shipped, "--line", "1-2-defective"])
    assert bad.exit_code == 2 and "LINE:UNITS:REASON" in bad.output
    bad = runner.invoke(app, ["returns", "request", shipped, "--line", "1:1:meh"])
    assert bad.exit_code == 2 and "defective" in bad.output
    again = runner.invoke(app, ["orders", "cancel", shipped, "--reason", "x"], env=env)
    assert again.exit_code == 1 and "invalid_transition" in again.output

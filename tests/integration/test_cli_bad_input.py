"""The command line with input the database cannot store, on a SQLite file.

Arguments come from ``argv``: bytes that are not UTF-8 reach Python as lone surrogates
(``surrogateescape``) and used to fail inside a transaction with a traceback; a tracking
CSV with a field over 128 KiB stopped Python's reader with a traceback too. Both are now
one line and an exit code, and nothing is stored.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dropline.bootstrap import build
from dropline.cli.app import app
from dropline.config import Settings
from fulfilment_support import order_status, paid_order
from support import seed_shop


async def _manufacturers(url: str) -> int:
    c = await build(Settings(database_url=url, background_tasks=False))
    try:
        return len(await c.production.manufacturers())
    finally:
        await c.close()


@pytest.mark.parametrize("bad", ["a\udcffb", "\ud800"], ids=["undecodable", "surrogate"])
def test_an_argument_that_is_not_text_is_a_usage_error(sqlite_url: str, bad: str) -> None:
    runner = CliRunner()
    env = {"DROPLINE_DATABASE_URL": sqlite_url, "COLUMNS": "200"}
    out = runner.invoke(app, ["runs", "manufacturer-add", bad], env=env)
    assert out.exit_code == 2, out.output
    assert "argument 3" in out.output and "unpaired surrogate" in out.output
    out = runner.invoke(app, ["runs", "manufacturer-add", "Acme", "--notes", bad], env=env)
    assert out.exit_code == 2 and "argument 5" in out.output, out.output
    assert asyncio.run(_manufacturers(sqlite_url)) == 0
    out = runner.invoke(app, ["runs", "manufacturer-add", "Acme"], env=env)
    assert out.exit_code == 0 and asyncio.run(_manufacturers(sqlite_url)) == 1


def test_tracking_import_with_an_oversized_field_is_one_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    async def setup() -> str:
        c = await build(Settings(database_url=sqlite_url, background_tasks=False))
        try:
            return (await paid_order(c, await seed_shop(c, units=5), "ann")).id
        finally:
            await c.close()

    async def status(order_id: str) -> str:
        c = await build(Settings(database_url=sqlite_url, background_tasks=False))
        try:
            return await order_status(c, order_id)
        finally:
            await c.close()

    order_id = asyncio.run(setup())
    path = tmp_path / "tracking.csv"
    path.write_text(
        f"order_id,carrier,tracking_number\n{order_id},UPS,1Z1\nord_2,UPS,{'9' * 140_000}\n"
    )
    env = {"DROPLINE_DATABASE_URL": sqlite_url, "COLUMNS": "200"}
    out = CliRunner().invoke(app, ["tracking", "import", str(path)], env=env)
    assert out.exit_code == 1, out.output
    assert "[csv_field_too_large] line 3: a field is longer than 131072" in out.output
    assert "Traceback" not in out.output
    assert asyncio.run(status(order_id)) == "paid"  # the good row before it was not applied

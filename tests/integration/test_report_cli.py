"""``dropline report`` on a seeded SQLite database: tables, CSV, the HTML file, and
``--check`` failing on an unbalanced ledger; the monitor migration up and down."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from dropline.bootstrap import build
from dropline.cli.app import app
from dropline.config import Settings
from dropline.store.db import alembic_config, create_engine, upgrade
from support import seed_shop, sku_item


async def _seed(url: str) -> str:
    c = await build(Settings(database_url=url, background_tasks=False))
    try:
        shop = await seed_shop(c, units=4)
        hold = await c.holds.place(shop.drop_id, "ann", [sku_item(shop.skus[0], 3)])
        await c.checkout.start(hold.id, "ann", "4242424242424242")
        return shop.drop_id
    finally:
        await c.close()


async def _tamper(url: str, drop_id: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE orders SET total_amount = total_amount - 1 WHERE drop_id = :d"),
            {"d": drop_id},
        )
    await engine.dispose()


def test_report_command_tables_csv_html_and_check(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop_id = asyncio.run(_seed(sqlite_url))
    monkeypatch.setenv("DROPLINE_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    out = runner.invoke(app, ["report", drop_id, "--check"], env={"COLUMNS": "160"})
    assert out.exit_code == 0, out.output
    assert "balanced" in out.output and "USD 75.00" in out.output

    csv_out = runner.invoke(app, ["report", drop_id, "--csv"])
    assert csv_out.exit_code == 0
    lines = csv_out.output.splitlines()
    assert lines[0] == "section,name,metric,value"
    assert "totals,,units_sold,3" in lines and "totals,,net,7500" in lines

    html = tmp_path / "report.html"
    assert runner.invoke(app, ["report", drop_id, "--html", str(html)]).exit_code == 0
    page = html.read_text()
    assert "<svg" in page and "sales-chart" in page
    assert "src=" not in page and 'href="http' not in page  # nothing external

    asyncio.run(_tamper(sqlite_url, drop_id))
    bad = runner.invoke(app, ["report", drop_id, "--check"], env={"COLUMNS": "160"})
    assert bad.exit_code == 1 and "NOT balanced" in bad.output
    assert runner.invoke(app, ["report", "drp_nope"]).exit_code == 1


def _tables(url: str) -> set[str]:
    async def go() -> set[str]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        await engine.dispose()
        return names

    return asyncio.run(go())


def test_monitor_migration_up_and_down_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    assert "drop_monitor_settings" in _tables(url)
    command.downgrade(alembic_config(url), "0005_monitor-1")
    assert "drop_monitor_settings" not in _tables(url)
    assert "drops" in _tables(url)
    upgrade(url)
    assert "drop_monitor_settings" in _tables(url)


@pytest.mark.postgres
def test_monitor_migration_up_and_down_on_postgres(postgres_url: str) -> None:
    from backends import migrate_pg

    migrate_pg()
    command.downgrade(alembic_config(postgres_url), "0005_monitor-1")
    try:
        assert "drop_monitor_settings" not in _tables(postgres_url)
    finally:
        upgrade(postgres_url)
    assert "drop_monitor_settings" in _tables(postgres_url)

"""API key lifecycle on both backends: expiry, rotation with a grace period, last use
written off the request path, and the CLI's ``keys create/rotate/list``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from dropline.api.app import create_app
from dropline.bootstrap import Container, build
from dropline.cli.app import app as cli
from dropline.config import Settings
from dropline.services.ports import ManualClock


@dataclass
class Keys:
    c: Container
    clock: ManualClock
    http: httpx.AsyncClient
    admin: str

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def call(self, key: str) -> tuple[int, str | None]:
        """An ops call (list drops) with ``key``: (status, problem code or None)."""
        r = await self.http.get("/v1/drops", headers={"Authorization": f"Bearer {key}"})
        return r.status_code, (r.json().get("code") if r.status_code >= 400 else None)

    async def post(self, path: str, body: object = None) -> httpx.Response:
        return await self.http.post(
            path, json=body, headers={"Authorization": f"Bearer {self.admin}"}
        )


@pytest.fixture
async def keys(container: Container, clock: ManualClock) -> AsyncIterator[Keys]:
    app = create_app(container=container)
    app.state.container = container  # ASGITransport does not run the lifespan
    admin, _ = await container.access.create_key("root", "admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield Keys(container, clock, http, admin)


async def test_a_key_stops_working_at_its_expiry_even_when_cached(keys: Keys) -> None:
    expires = keys.now() + timedelta(hours=1)
    r = await keys.post(
        "/v1/api-keys", {"name": "ci", "scope": "ops", "expires_at": expires.isoformat()}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert abs(datetime.fromisoformat(body["expires_at"]) - expires) < timedelta(seconds=1)
    assert await keys.call(body["key"]) == (200, None)
    keys.clock.advance(3599)
    assert await keys.call(body["key"]) == (200, None)
    keys.clock.advance(2)
    assert await keys.call(body["key"]) == (401, "unauthenticated")
    assert not await keys.c.access.key_active(body["id"])  # web sessions end too


async def test_an_expiry_must_be_a_future_utc_time(keys: Keys) -> None:
    past = (keys.now() - timedelta(seconds=1)).isoformat()
    r = await keys.post("/v1/api-keys", {"name": "x", "scope": "ops", "expires_at": past})
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    naive = keys.now().replace(tzinfo=None).isoformat()
    r = await keys.post("/v1/api-keys", {"name": "x", "scope": "ops", "expires_at": naive})
    assert r.status_code == 422
    assert len(await keys.c.access.list_keys()) == 1  # only the admin key


async def test_rotation_issues_a_successor_and_retires_the_old_key_after_the_grace(
    keys: Keys,
) -> None:
    old_raw, old = await keys.c.access.create_key("warehouse", "ops")
    assert await keys.call(old_raw) == (200, None)  # cached from here on
    r = await keys.post(f"/v1/api-keys/{old.id}/rotate", {"grace_s": 600})
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["name"] == "warehouse" and new["scope"] == "ops" and new["key"] != old_raw
    listed = {k.id: k for k in await keys.c.access.list_keys()}
    assert listed[old.id].replaced_by == new["id"]
    retire = listed[old.id].expires_at
    assert retire is not None
    assert abs(retire - (keys.now() + timedelta(seconds=600))) < timedelta(seconds=1)
    # Through the window both work; after it only the successor.
    keys.clock.advance(599)
    assert await keys.call(old_raw) == (200, None)
    assert await keys.call(new["key"]) == (200, None)
    keys.clock.advance(2)
    assert await keys.call(old_raw) == (401, "unauthenticated")
    assert await keys.call(new["key"]) == (200, None)
    # A retired key cannot be rotated again; the successor can, once.
    assert (await keys.post(f"/v1/api-keys/{old.id}/rotate")).status_code == 404
    assert (await keys.post(f"/v1/api-keys/{new['id']}/rotate")).status_code == 201
    again = await keys.post(f"/v1/api-keys/{new['id']}/rotate")
    assert (again.status_code, again.json()["code"]) == (409, "conflict")


async def test_rotation_without_grace_retires_at_once_and_never_extends_a_life(
    keys: Keys,
) -> None:
    raw, rec = await keys.c.access.create_key("pos", "storefront")
    r = await keys.post(f"/v1/api-keys/{rec.id}/rotate", {"grace_s": 0})
    assert r.status_code == 201
    assert await keys.call(raw) == (401, "unauthenticated")
    _, short = await keys.c.access.create_key("short", "ops", keys.now() + timedelta(minutes=5))
    await keys.c.access.rotate_key(short.id, timedelta(days=1))
    assert (await keys.c.access.get_key(short.id)).expires_at == short.expires_at
    too_long = await keys.post(f"/v1/api-keys/{rec.id}/rotate", {"grace_s": 31 * 86400})
    assert too_long.status_code == 422


async def test_last_use_is_noted_in_memory_and_written_by_the_flush(keys: Keys) -> None:
    raw, rec = await keys.c.access.create_key("overlay", "ops")
    for _ in range(20):
        assert await keys.call(raw) == (200, None)
    # No request wrote to the database...
    assert (await keys.c.access.get_key(rec.id)).last_used_at is None
    used_at = keys.now()
    keys.clock.advance(5)
    # ...the flush does, once per key.
    assert await keys.c.access.flush_usage() == 1
    assert (await keys.c.access.get_key(rec.id)).last_used_at == used_at
    for _ in range(20):
        await keys.call(raw)
    assert await keys.c.access.flush_usage() == 0  # within the minute: nothing new
    # An older time never overwrites a newer one (another process flushing late).
    async with keys.c.uow() as uow:
        await uow.access.touch_keys({rec.id: used_at - timedelta(minutes=5)})
        await uow.commit()
    assert (await keys.c.access.get_key(rec.id)).last_used_at == used_at


def test_cli_create_rotate_and_list(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DROPLINE_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    env = {"COLUMNS": "250"}
    made = runner.invoke(cli, ["keys", "create", "--scope", "ops", "--name", "wh"], env=env)
    assert made.exit_code == 0, made.output
    key_id = made.output.split()[0]
    rotated = runner.invoke(cli, ["keys", "rotate", key_id, "--grace", "1h"], env=env)
    assert rotated.exit_code == 0, rotated.output
    new_id = rotated.output.split()[0]
    assert new_id.startswith("key_") and new_id != key_id
    assert f"{key_id} stops working at" in rotated.output
    listed = runner.invoke(cli, ["keys", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if key_id in line)
    assert new_id in row  # full ids, and who replaced whom

    async def expiry() -> tuple[datetime | None, datetime | None]:
        c = await build(Settings(database_url=sqlite_url, background_tasks=False))
        try:
            old, new = await c.access.get_key(key_id), await c.access.get_key(new_id)
            return old.expires_at, new.expires_at
        finally:
            await c.close()

    old_exp, new_exp = asyncio.run(expiry())
    assert old_exp is not None and new_exp is None
    assert timedelta(minutes=59) < old_exp - datetime.now(UTC) <= timedelta(hours=1)
    assert old_exp.strftime("%Y-%m-%d %H:%M:%S") in row
    bad = runner.invoke(cli, ["keys", "rotate", key_id, "--grace", "soon"], env=env)
    assert bad.exit_code == 2
    again = runner.invoke(cli, ["keys", "rotate", key_id], env=env)
    assert again.exit_code == 1 and "conflict" in again.output

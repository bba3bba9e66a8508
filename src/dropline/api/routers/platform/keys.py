"""API keys (admin)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from dropline.api import schemas as s
from dropline.api import views
from dropline.api.deps import Admin, ContainerDep

router = APIRouter(prefix="/v1/api-keys", tags=["access"])


@router.post("", status_code=201, response_model=s.ApiKeyOut)
async def create_key(body: s.ApiKeyIn, c: ContainerDep, _: Admin) -> s.ApiKeyOut:
    """The ``key`` field is shown this once; only its hash is stored."""
    raw, rec = await c.access.create_key(body.name, body.scope, body.expires_at)
    return views.api_key(rec, raw)


@router.get("", response_model=list[s.ApiKeyOut])
async def list_keys(c: ContainerDep, _: Admin) -> list[s.ApiKeyOut]:
    return [views.api_key(k) for k in await c.access.list_keys()]


@router.post("/{key_id}/rotate", status_code=201, response_model=s.ApiKeyOut)
async def rotate_key(
    key_id: str, c: ContainerDep, _: Admin, body: s.ApiKeyRotateIn | None = None
) -> s.ApiKeyOut:
    """Issue a successor with the same name and scope (its ``key`` shown this once); the
    old key keeps working ``grace_s`` seconds (default 24 h), then stops. Every API
    process sees the change before this answers."""
    body = body or s.ApiKeyRotateIn()
    raw, rec = await c.access.rotate_key(key_id, timedelta(seconds=body.grace_s), body.expires_at)
    return views.api_key(rec, raw)


@router.delete("/{key_id}", status_code=204)
async def revoke_key(key_id: str, c: ContainerDep, _: Admin) -> None:
    """Revoke at once: every API process refuses the key before this answers."""
    await c.access.revoke_key(key_id)

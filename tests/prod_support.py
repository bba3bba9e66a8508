"""Helpers for the production-backend tests: localstripe, signed Stripe events, an
in-process HTTP client on a container, free ports."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from backends import free_port
from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.payments.stripe_webhooks import sign_stripe_payload

STRIPE_KEY = "sk_test_12345"
STRIPE_AUTH = (STRIPE_KEY, "")
WEBHOOK_SECRET = "whsec_test_dropline"
VISA_3DS = "4000002500003155"

# localstripe saves its store to a fixed /tmp path after every POST; turn that off so
# parallel runs on one machine do not race on it (as tests/integration/test_stripe_provider).
_LAUNCHER = (
    "import sys, localstripe.resources as r, localstripe.server as s\n"
    "r.store.dump_to_disk = lambda: None\n"
    "sys.argv[1:] = ['--port', sys.argv[1], '--from-scratch']\n"
    "s.start()\n"
)


@contextmanager
def localstripe(log_dir: Path) -> Iterator[str]:
    """Run localstripe on a free port; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = log_dir / "localstripe.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"localstripe exited ({proc.returncode}):\n{log_path.read_text()}")
            try:
                r = httpx.get(f"{url}/v1/payment_intents", params={"limit": 1}, auth=STRIPE_AUTH)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"localstripe did not answer on {url}:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def card(base: str, number: str) -> str:
    """A PaymentMethod for a test card number (what Stripe.js creates in a browser)."""
    async with httpx.AsyncClient(base_url=base, auth=STRIPE_AUTH) as http:
        r = await http.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": "2034",
                "card[cvc]": "123",
            },
        )
    r.raise_for_status()
    pm_id: str = r.json()["id"]
    return pm_id


async def raw_intent(base: str, payment_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, auth=STRIPE_AUTH) as http:
        r = await http.get(f"/v1/payment_intents/{payment_id}")
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


async def authenticate(base: str, payment_id: str, client_secret: str, success: bool) -> None:
    """Complete (or fail) the 3-D Secure challenge, as the buyer's browser would."""
    async with httpx.AsyncClient(base_url=base) as http:
        r = await http.post(
            f"/v1/payment_intents/{payment_id}/_authenticate",
            data={
                "client_secret": client_secret,
                "success": "true" if success else "false",
                "key": "pk_test_12345",
            },
        )
    r.raise_for_status()


def stripe_event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    """A Stripe event body as Stripe sends it (``data.object`` is the intent)."""
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2024-06-20",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
    ).encode()


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {
        "Stripe-Signature": sign_stripe_payload(payload, secret, stamp),
        "Content-Type": "application/json",
    }


def app_for(c: Container) -> FastAPI:
    """The API on an existing container (the test owns it; no lifespan needed)."""
    app = create_app(container=c)
    app.state.container = c
    return app


def http_client(c: Container) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_for(c)), base_url="http://dropline.test"
    )


# --------------------------------------------------------------------------- redis


def unique_prefix() -> str:
    """A Redis key prefix of its own for one test: tests sharing the server (and db 15)
    never see each other's keys."""
    return f"t{uuid.uuid4().hex[:10]}"


async def lose_redis_data(redis_url: str, prefix: str) -> int:
    """What ``FLUSHALL`` (or a restart without persistence) does to one engine: every
    key under ``prefix`` is gone, and so is the server's script cache. Scoped to the
    prefix so other suites sharing the server are not disturbed; the engine cannot tell
    the difference. Returns how many keys were deleted."""
    client = redis_admin(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 500):  # a cluster splits them by slot
            await client.delete(*keys[start : start + 500])
        await client.script_flush()  # on a cluster: every master's
        return len(keys)
    finally:
        await client.aclose()


def redis_admin(redis_url: str) -> Any:
    """A plain client for ``redis://`` or a cluster client for ``redis+cluster://``
    (``scan_iter`` and ``script_flush`` then cover every master)."""
    import redis.asyncio as aioredis

    from dropline.engine.redis_cluster import cluster_client, is_cluster_url

    if is_cluster_url(redis_url):
        return cluster_client(redis_url)
    return aioredis.Redis.from_url(redis_url)

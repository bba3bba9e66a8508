"""The server and the worker refuse to start with the development buyer-token secret
wherever the settings look like a deployment, with one line naming the setting; on
loopback (``make run``) and with the explicit opt-in they start."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from e2e.cli_support import cli_env, run_cli

pytestmark = pytest.mark.e2e

SIGNS = {
    "host": ({"DROPLINE_HOST": "0.0.0.0"}, "DROPLINE_HOST=0.0.0.0"),
    "postgres": (
        {"DROPLINE_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/nowhere"},
        "DROPLINE_DATABASE_URL is PostgreSQL",
    ),
    "remote redis": (
        {"DROPLINE_ENGINE_URL": "redis://cache.internal:6379/0"},
        "DROPLINE_ENGINE_URL points at another host",
    ),
    "live stripe": (
        {"DROPLINE_PAYMENT_PROVIDER": "stripe", "DROPLINE_STRIPE_API_KEY": "sk_live_abc"},
        "DROPLINE_STRIPE_API_KEY is a live key",
    ),
    "public url": (
        {"DROPLINE_PUBLIC_URL": "https://shop.example.com"},
        "DROPLINE_PUBLIC_URL=https://shop.example.com",
    ),
}


@pytest.mark.parametrize("sign", sorted(SIGNS))
def test_serve_refuses_the_dev_secret_on_a_deployment(tmp_path: Path, sign: str) -> None:
    extra, named = SIGNS[sign]
    done = run_cli(["serve"], cli_env(tmp_path, extra))
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, out
    assert out.startswith("refusing to start: DROPLINE_BUYER_TOKEN_SECRET")
    assert named in out
    assert "Traceback" not in out


def test_worker_refuses_too(tmp_path: Path) -> None:
    env = cli_env(tmp_path, {"DROPLINE_ENGINE_URL": "redis://cache.internal:6379/0"})
    done = run_cli(["worker"], env)
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, out
    assert "DROPLINE_ENGINE_URL points at another host" in out


def test_a_real_secret_makes_the_same_settings_safe(tmp_path: Path) -> None:
    env = cli_env(tmp_path, {"DROPLINE_ENGINE_URL": "redis://cache.internal:6379/0"})
    env["DROPLINE_BUYER_TOKEN_SECRET"] = "s3cret-" + "x" * 32
    done = run_cli(["worker"], env)
    # past the safety check: the worker now fails only to reach the made-up Redis host
    assert "refusing to start" not in done.stdout + done.stderr


def _serve_until_ready(env: dict[str, str]) -> subprocess.Popen[bytes]:
    assert run_cli(["db", "upgrade"], env).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "dropline", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{env['DROPLINE_PORT']}/healthz"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("the server did not start")


def test_loopback_starts_with_no_warning(tmp_path: Path) -> None:
    env = cli_env(tmp_path, {})
    proc = _serve_until_ready(env)
    try:
        ready = httpx.get(f"http://127.0.0.1:{env['DROPLINE_PORT']}/readyz").json()
        assert ready["warnings"] == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_opt_in_starts_and_readyz_warns(tmp_path: Path) -> None:
    extra = {"DROPLINE_PUBLIC_URL": "https://shop.example.com", "DROPLINE_ALLOW_DEV_SECRETS": "1"}
    env = cli_env(tmp_path, extra)
    proc = _serve_until_ready(env)
    try:
        ready = httpx.get(f"http://127.0.0.1:{env['DROPLINE_PORT']}/readyz").json()
        [warning] = ready["warnings"]
        assert "DROPLINE_BUYER_TOKEN_SECRET" in warning
        assert "DROPLINE_PUBLIC_URL=https://shop.example.com" in warning
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_dev_secret_pasted_into_the_jwt_keys_is_refused_too(tmp_path: Path) -> None:
    from dropline.config import DEV_BUYER_SECRET

    extra, _ = SIGNS["postgres"]
    env = cli_env(tmp_path, extra) | {
        "DROPLINE_BUYER_TOKEN_SECRET": "s3cret-" + "x" * 32,
        "DROPLINE_BUYER_TOKEN_KEYS": json.dumps({"k1": DEV_BUYER_SECRET}),
    }
    done = run_cli(["serve"], env)
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, out
    assert out.startswith("refusing to start: DROPLINE_BUYER_TOKEN_KEYS")

"""Shared fixtures: which real servers are reachable, and whether they are required.

With ``CI=true`` a missing PostgreSQL or Redis is a failure, not a skip: the backends
must be tested on every landing.
"""

from __future__ import annotations

import os
import socket

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_URL = os.environ.get(
    "DROPLINE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("DROPLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip when the server is down, except in CI where that is a failure."""
    if _reachable(host, port):
        return
    if IN_CI:
        pytest.fail(f"{name} at {host}:{port} is required when CI=true but is not reachable")
    pytest.skip(f"{name} at {host}:{port} is not reachable")


@pytest.fixture
def redis_url() -> str:
    require_server("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def postgres_url() -> str:
    require_server("PostgreSQL", "127.0.0.1", 5432)
    return PG_URL

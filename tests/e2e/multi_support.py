"""A small harness for the multi-process tests: ``dropline serve`` API processes and a
``dropline worker`` as real subprocesses on free ports, sharing PostgreSQL and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from prod_support import free_port

BUYER_SECRET = "e2e-multi-process-buyer-secret"


@dataclass
class Proc:
    """One dropline subprocess and its log."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dropline", *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout_s: float = 60) -> None:
        """Poll ``/readyz`` until 200 (database, engine and provider reachable)."""
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"{self.name} exited early:\n{self.log()}")
            try:
                r = httpx.get(f"{self.url}/readyz", timeout=2)
                if r.status_code == 200:
                    return
                last = r.text
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready: {last}\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine or container dies."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL after 15 s); the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def process_env(database_url: str, engine_url: str) -> dict[str, str]:
    """The environment of every process of one deployment: shared database and engine;
    API processes leave the background jobs to the worker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DROPLINE_")}
    env.update(
        {
            "DROPLINE_DATABASE_URL": database_url,
            "DROPLINE_ENGINE_URL": engine_url,
            "DROPLINE_BACKGROUND_TASKS": "false",
            "DROPLINE_BUYER_TOKEN_SECRET": BUYER_SECRET,
            "DROPLINE_EXPIRY_INTERVAL_S": "0.2",
            # Several processes share a PostgreSQL that other suites use too.
            "DROPLINE_DB_POOL_SIZE": "5",
            "DROPLINE_DB_MAX_OVERFLOW": "5",
            "DROPLINE_LOG_LEVEL": "warning",
        }
    )
    return env


def api_process(name: str, env: dict[str, str], log_dir: Path, workers: int = 1) -> Proc:
    """``dropline serve`` on a free port; ``workers`` > 1 uses uvicorn's process manager
    (``--workers N``: N processes behind one port)."""
    port = free_port()
    return Proc(
        name,
        ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env,
        log_dir / f"{name}.log",
        port,
    )


def worker_process(env: dict[str, str], log_dir: Path) -> Proc:
    return Proc("worker", ["worker"], env, log_dir / "worker.log")


class Http:
    """A JSON client for thousands of concurrent requests (aiohttp: its connection pool
    stays fast with many requests queued, where httpx's degrades). One connection per
    request: no race with the server closing an idle kept-alive connection, and a dead
    process shows up as a connection error on exactly the requests it got."""

    def __init__(self, connections: int = 200) -> None:
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Http:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.connections, force_close=True),
            timeout=aiohttp.ClientTimeout(total=120),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._session is not None
        await self._session.close()

    async def request(
        self, method: str, url: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """(status, decoded JSON body). A process that dies raises
        ``aiohttp.ClientConnectionError`` (refused, disconnected) or, when it died in
        the middle of its answer, ``aiohttp.ClientPayloadError``."""
        assert self._session is not None
        async with self._session.request(method, url, json=json, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def post(
        self, url: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        return await self.request("POST", url, json, headers)

    async def get(self, url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return await self.request("GET", url, None, headers)

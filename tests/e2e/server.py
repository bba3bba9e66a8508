"""A real dropline server process for end-to-end tests, and helpers to drive it over HTTP.

``DroplineServer`` runs ``python -m dropline db upgrade``, creates an admin key with
``python -m dropline keys create --scope admin`` (the output is parsed, exactly as an
operator would read it), then starts ``python -m dropline serve`` on a free port of
127.0.0.1 with its own environment and waits for ``/healthz``. It can be killed with any
signal and restarted on the same port and database, and ``stop()`` always reaps the
process, so no test leaves a stray server behind (use it as a context manager or via the
``server`` fixture in ``tests/e2e/conftest.py``).

The same class serves the later multi-process tests: pass ``database_url`` (PostgreSQL),
``engine_url`` (Redis) and ``extra_args=["--workers", "2"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from backends import free_port
from dropline.services.platform.access import mint_buyer_token

SECRET = "e2e-buyer-token-secret"
KEY_RE = re.compile(r"\b(dlk_[A-Za-z0-9_\-]+)")


class ServerError(RuntimeError):
    """The server process could not be prepared or did not come up."""


@dataclass(frozen=True)
class Template:
    """A migrated SQLite database with an admin key, made once and copied per server:
    preparing costs two interpreter start-ups, copying a file costs nothing."""

    db_path: Path
    admin_key: str


def make_template(workdir: Path) -> Template:
    """Prepare a database exactly as an operator would (``db upgrade``, ``keys create``)."""
    srv = DroplineServer(workdir)
    srv.prepare()
    assert srv.db_path is not None
    return Template(srv.db_path, srv.admin_key)


class DroplineServer:
    """One ``dropline serve`` subprocess with its own database and environment."""

    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str | None = None,
        engine_url: str = "memory",
        buyer_secret: str = SECRET,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
        template: Template | None = None,
        startup_timeout_s: float = 60.0,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path: Path | None = None
        self.admin_key = ""
        if database_url is None:
            self.db_path = workdir / "dropline.db"
            database_url = f"sqlite+aiosqlite:///{self.db_path}"
            if template is not None:
                for suffix in ("", "-wal"):
                    src = Path(f"{template.db_path}{suffix}")
                    if src.exists():
                        shutil.copy(src, f"{self.db_path}{suffix}")
                self.admin_key = template.admin_key
        self.database_url = database_url
        self.buyer_secret = buyer_secret
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.extra_args = list(extra_args or [])
        self.startup_timeout_s = startup_timeout_s
        self.env = {
            **os.environ,
            "DROPLINE_DATABASE_URL": database_url,
            "DROPLINE_ENGINE_URL": engine_url,
            "DROPLINE_BUYER_TOKEN_SECRET": buyer_secret,
            "DROPLINE_PAYMENT_PROVIDER": "sandbox",
            "DROPLINE_DATA_DIR": str(workdir / "data"),
            "DROPLINE_LOG_LEVEL": "warning",
            # these servers go live with drops nobody counted (the guides' servers
            # run with the default, enforce: tests/e2e/guides.py)
            "DROPLINE_READINESS_GATE": "advise",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "server.log"
        self.starts = 0

    # ------------------------------------------------------------------ CLI

    def cli(self, *args: str, timeout: float = 60.0) -> str:
        """Run ``python -m dropline ARGS`` with the server's environment; its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "dropline", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise ServerError(
                f"dropline {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def prepare(self) -> None:
        """Migrate the database and create the admin key (once)."""
        self.cli("db", "upgrade")
        out = self.cli("keys", "create", "--scope", "admin", "--name", "e2e admin")
        found = KEY_RE.search(out)
        if found is None:
            raise ServerError(f"no key in the output of keys create: {out!r}")
        self.admin_key = found.group(1)

    # ------------------------------------------------------------------ process

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the server (preparing the database the first time) and wait until it
        answers ``/healthz``; ``ServerError`` with the log if it does not."""
        if self.running:
            raise ServerError("the server is already running")
        if not self.admin_key:
            self.prepare()
        cmd = [sys.executable, "-m", "dropline", "serve", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.starts + 1}: {' '.join(cmd)}\n".encode())
            self.proc = subprocess.Popen(
                [*cmd, *self.extra_args],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our own process group: workers die with us
            )
        self.starts += 1
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.running:
                    raise ServerError(f"the server exited at start-up:\n{self.log()}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self.stop()
        raise ServerError(f"the server did not answer /healthz in time:\n{self.log()}")

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 15.0) -> int:
        """Send ``sig`` to the server's process group and wait for it to exit; its
        return code (negative signal number when killed)."""
        proc = self.proc
        if proc is None:
            raise ServerError("the server was never started")
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(timeout)

    def restart(self) -> None:
        """Start again on the same port, database and keys (killing it first if it is
        still running, gracefully)."""
        if self.running:
            self.kill(signal.SIGTERM)
        self.start()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit; safe to call at any time."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.kill(signal.SIGTERM, timeout=10.0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> DroplineServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ HTTP helpers

    def buyer_token(self, buyer_id: str, ttl_s: int = 3600) -> str:
        return mint_buyer_token(self.buyer_secret, buyer_id, ttl_s)

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}


class Crowd:
    """Many buyers at once: requests spread over several small httpx pools.

    One ``httpx.AsyncClient`` with hundreds of connections spends more CPU managing its
    pool (every request scans every connection) than the server spends answering, so
    the crowd uses ``clients`` clients of ``connections`` sockets each, and never queues
    more requests on a client than it has sockets (the rest wait on a semaphore)."""

    def __init__(
        self, base_url: str, *, clients: int = 10, connections: int = 10, timeout: float = 120
    ) -> None:
        # Idle sockets are dropped well before uvicorn's 5 s keep-alive timeout, so a
        # request is never written to a socket the server is closing at that moment.
        limits = httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=2.0,
        )
        self._clients = [
            httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout)
            for _ in range(clients)
        ]
        self._gates = [asyncio.Semaphore(connections) for _ in range(clients)]
        self._next = 0
        self.max_in_flight = clients * connections

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        n = self._next = (self._next + 1) % len(self._clients)
        async with self._gates[n]:
            return await self._clients[n].request(method, url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", url, **kwargs)

    async def __aenter__(self) -> Crowd:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(c.aclose() for c in self._clients))


@dataclass
class SeededDrop:
    """What ``seed_drop`` made: ids by the names the caller chose."""

    drop_id: str
    skus: dict[str, str]
    bundles: dict[str, str] = field(default_factory=dict)
    components: dict[str, dict[str, int]] = field(default_factory=dict)
    storefront_key: str = ""


def _ok(resp: httpx.Response, status: int = 201) -> Any:
    if resp.status_code != status:
        raise AssertionError(
            f"{resp.request.method} {resp.request.url.path} → {resp.status_code}: {resp.text}"
        )
    return resp.json()


async def seed_drop(
    client: Crowd | httpx.AsyncClient,
    admin_key: str,
    *,
    skus: dict[str, int],
    bundles: dict[str, dict[str, int]] | None = None,
    per_buyer_limit: int | None = None,
    currency: str = "USD",
    price: int = 2500,
    hold_ttl_s: int = 90,
    live: bool = True,
) -> SeededDrop:
    """Build a drop the way an ops lead would, over HTTP with an admin key.

    ``skus`` maps a name to the units received and offered; ``bundles`` maps a bundle
    name to its components (SKU name → quantity). The drop is moved to live unless
    ``live`` is false, and a storefront key is created for the buyers."""
    auth = {"Authorization": f"Bearer {admin_key}"}
    tag = os.urandom(4).hex()
    product = _ok(await client.post("/v1/products", json={"name": f"E2E tee {tag}"}, headers=auth))
    sku_ids: dict[str, str] = {}
    for name in skus:
        sku = _ok(
            await client.post(
                f"/v1/products/{product['id']}/skus",
                json={
                    "code": f"E2E-{name}-{tag}".upper(),
                    "price": {"amount": price, "currency": currency},
                    "attributes": {"name": name},
                },
                headers=auth,
            )
        )
        sku_ids[name] = sku["id"]
        _ok(
            await client.post(
                f"/v1/stock/{sku['id']}/receipts", json={"quantity": skus[name]}, headers=auth
            )
        )
    drop = _ok(
        await client.post(
            "/v1/drops",
            json={"name": f"E2E drop {tag}", "currency": currency, "hold_ttl_s": hold_ttl_s},
            headers=auth,
        )
    )
    for name, units in skus.items():
        _ok(
            await client.put(
                f"/v1/drops/{drop['id']}/offers/{sku_ids[name]}",
                json={"quantity": units, "per_buyer_limit": per_buyer_limit},
                headers=auth,
            ),
            200,
        )
    bundle_ids: dict[str, str] = {}
    components: dict[str, dict[str, int]] = {}
    for name, parts in (bundles or {}).items():
        bundle = _ok(
            await client.post(
                "/v1/bundles",
                json={
                    "code": f"E2E-B-{name}-{tag}".upper(),
                    "name": name,
                    "price": {"amount": price * 2, "currency": currency},
                    "components": [{"sku_id": sku_ids[s], "quantity": q} for s, q in parts.items()],
                },
                headers=auth,
            )
        )
        bundle_ids[name] = bundle["id"]
        components[bundle["id"]] = {sku_ids[s]: q for s, q in parts.items()}
        _ok(
            await client.post(
                f"/v1/drops/{drop['id']}/bundles", json={"bundle_id": bundle["id"]}, headers=auth
            )
        )
    if live:
        for status in ("scheduled", "live"):
            _ok(
                await client.post(
                    f"/v1/drops/{drop['id']}/transitions", json={"to": status}, headers=auth
                ),
                200,
            )
    key = _ok(
        await client.post(
            "/v1/api-keys", json={"name": f"storefront {tag}", "scope": "storefront"}, headers=auth
        )
    )
    return SeededDrop(drop["id"], sku_ids, bundle_ids, components, key["key"])

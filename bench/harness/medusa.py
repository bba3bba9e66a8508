"""The Medusa v2 peer (``--peer medusa``): the pinned ``@medusajs/medusa`` from the npm
registry, installed into a scratch folder outside the repository's code
(``.bench/peer-medusa``, git-ignored; ``BENCH_PEER_DIR`` to move it), on its own
PostgreSQL database (``medusa_bench`` on 127.0.0.1:5432, created and dropped by the run;
``BENCH_PEER_PG_DB``) with its Redis locking provider on its own Redis db
(``redis://127.0.0.1:6379/13``; ``BENCH_PEER_REDIS_URL``).

The files copied into the scratch folder are in ``bench/peers/medusa/``: the pinned
``package.json``, ``medusa-config.js`` (PostgreSQL, Redis locking, admin off) and
``seed.js`` (region with the system payment provider, stock location, flat shipping
option, publishable key, one product per SKU), run with ``medusa exec``. The buyers use
the store API: cart (with its line item) -> shipping method -> payment collection ->
payment session (``pp_system_default``) -> complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .procs import free_port, tree
from .race import Buyer, Client, Step
from .stacks import PG_ADMIN_URL, Stack

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "bench" / "peers" / "medusa"
SCRATCH = Path(os.environ.get("BENCH_PEER_DIR", str(ROOT / ".bench" / "peer-medusa")))
PG_DB = os.environ.get("BENCH_PEER_PG_DB", "medusa_bench")
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
REDIS_URL = os.environ.get("BENCH_PEER_REDIS_URL", "redis://127.0.0.1:6379/13")
ADDRESS = {
    "first_name": "Bench",
    "last_name": "Buyer",
    "address_1": "1 Main St",
    "city": "Austin",
    "country_code": "us",
    "postal_code": "78701",
}
FILES = ("package.json", "medusa-config.js", "seed.js")


def pinned() -> str:
    """The version of ``@medusajs/medusa`` the peer's ``package.json`` pins."""
    pkg = json.loads((TEMPLATES / "package.json").read_text())
    return str(pkg["dependencies"]["@medusajs/medusa"])


def last_line(text: str) -> str:
    """The last meaningful line of a tool's output (npm's ``ERR!`` summary, an error)."""
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    errs = [x for x in lines if "ERR" in x or "rror" in x]
    return (errs or lines or ["(no output)"])[-1][:200]


class Medusa:
    """The Medusa v2 peer; see the module docstring and ``harness.peers.Peer``."""

    name = "medusa"

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self.version = pinned()
        self.node = ""
        self.stack = Stack(
            "peer-medusa",
            f"Medusa v{self.version}",
            PG_URL.replace("postgres://", "postgresql://"),  # the CPU readings watch postgres
            REDIS_URL,
            workers,
        )
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.seed: dict[str, Any] = {}
        #: whether ``setup`` created the database (``teardown`` touches nothing before)
        self.created = False

    @property
    def label(self) -> str:
        procs = f"{self.workers} process{'es' if self.workers > 1 else ''}"
        node = f", Node {self.node}" if self.node else ""
        return f"Medusa v{self.version} (npm{node}) + PostgreSQL, Redis locking, {procs}"

    def env(self) -> dict[str, str]:
        return dict(os.environ) | {
            "DATABASE_URL": PG_URL,
            "REDIS_URL": REDIS_URL,
            "NODE_ENV": "production",
            "MEDUSA_DISABLE_TELEMETRY": "true",
        }

    def npx(self, *args: str, timeout: float, extra: dict[str, str] | None = None) -> str:
        """Run the scratch folder's ``medusa`` CLI; its output, or :class:`PeerUnavailable`."""
        from .peers import PeerUnavailable

        cmd = [str(SCRATCH / "node_modules" / ".bin" / "medusa"), *args]
        try:
            p = subprocess.run(
                cmd,
                cwd=SCRATCH,
                env=self.env() | (extra or {}),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise PeerUnavailable(f"`medusa {' '.join(args)}` took over {timeout:.0f} s") from None
        if p.returncode != 0:
            raise PeerUnavailable(
                f"`medusa {' '.join(args)}` failed: {last_line(p.stderr + p.stdout)}"
            )
        return p.stdout

    def install(self) -> None:
        from .peers import PeerUnavailable

        node, npm = shutil.which("node"), shutil.which("npm")
        if not node or not npm:
            raise PeerUnavailable("node and npm are needed (Medusa v2 runs on Node 20+)")
        self.node = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
        self.node = self.node.strip().lstrip("v")
        if int(self.node.split(".")[0] or 0) < 20:
            raise PeerUnavailable(f"Medusa v2 needs Node 20 or later, found {self.node}")
        SCRATCH.mkdir(parents=True, exist_ok=True)
        for f in FILES:
            shutil.copyfile(TEMPLATES / f, SCRATCH / f)
        installed = SCRATCH / "node_modules" / "@medusajs" / "medusa" / "package.json"
        if installed.exists() and json.loads(installed.read_text())["version"] == self.version:
            return
        try:
            p = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=SCRATCH,
                capture_output=True,
                text=True,
                timeout=1200,
            )
        except subprocess.TimeoutExpired:
            raise PeerUnavailable("npm install took over 20 minutes") from None
        if p.returncode != 0:
            raise PeerUnavailable(f"npm install failed: {last_line(p.stderr + p.stdout)}")

    def setup(self, products: dict[str, int]) -> None:
        from .peers import PeerUnavailable

        try:
            self.created = True
            asyncio.run(self._reset(create=True))
        except OSError as e:
            raise PeerUnavailable(f"PostgreSQL/Redis not reachable: {e}") from None
        self.npx("db:migrate", timeout=600)
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            self.npx(
                "exec",
                "./seed.js",
                timeout=600,
                extra={"SEED_PRODUCTS": json.dumps(products), "SEED_OUT": out.name},
            )
            self.seed = json.loads(Path(out.name).read_text())

    async def _reset(self, create: bool) -> None:
        """Drop (and re-create) the peer's database; empty the peer's Redis db."""
        import asyncpg  # type: ignore[import-untyped]
        from redis.asyncio import Redis

        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
            if create:
                await conn.execute(f'CREATE DATABASE "{PG_DB}"')
        finally:
            await conn.close()
        r = Redis.from_url(REDIS_URL)
        await r.flushdb()
        await r.aclose()

    def start(self) -> None:
        from .peers import PeerUnavailable

        cmd = [str(SCRATCH / "node_modules" / ".bin" / "medusa"), "start"]
        cmd += ["-H", "127.0.0.1", "-p", str(self.port)]
        if self.workers > 1:
            cmd += ["--cluster", str(self.workers)]
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed with the process)
            prefix="bench-medusa-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            cmd,
            cwd=SCRATCH,
            env=self.env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = Path(self.log.name).read_text()[-2000:]
                raise PeerUnavailable(f"`medusa start` exited: {last_line(tail)}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise PeerUnavailable(f"`medusa start` did not answer /health in 180 s ({self.log.name})")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def teardown(self) -> None:
        if not self.created:
            return
        with contextlib.suppress(OSError):
            asyncio.run(self._reset(create=False))

    def pids(self) -> list[int]:
        return tree(self.proc.pid) if self.proc else []

    def variant(self, product: str) -> str:
        return str(self.seed["products"][product]["variant_id"])

    def checkout_load(self, product: str) -> tuple[str, dict[str, Any]]:
        return "medusa_checkout.lua", {
            "key": self.seed["publishable_key"],
            "region": self.seed["region_id"],
            "variant": self.variant(product),
            "option": self.seed["shipping_option_id"],
            "provider": "pp_system_default",
        }

    def race_buyer(self, product: str) -> tuple[Callable[[int], dict[str, str]], Buyer]:
        key, sd, variant = self.seed["publishable_key"], self.seed, self.variant(product)

        def buy(i: int, c: Client) -> bool:
            cart = c.post(
                "cart",
                "/store/carts",
                {
                    "region_id": sd["region_id"],
                    "email": f"racer-{i}@example.com",
                    "shipping_address": ADDRESS,
                    "items": [{"variant_id": variant, "quantity": 1}],
                },
            )["cart"]["id"]
            c.post(
                "shipping",
                f"/store/carts/{cart}/shipping-methods",
                {"option_id": sd["shipping_option_id"]},
            )
            pc = c.post("payment", "/store/payment-collections", {"cart_id": cart})
            pc_id = pc["payment_collection"]["id"]
            c.post(
                "payment",
                f"/store/payment-collections/{pc_id}/payment-sessions",
                {"provider_id": "pp_system_default"},
            )
            done = c.post("complete", f"/store/carts/{cart}/complete", {})
            if done.get("type") != "order":
                err = done.get("error") or {}
                msg = str(err.get("message", "")) if isinstance(err, dict) else str(err)
                raise Step(f"complete 200 cart not completed: {re.sub(r'[0-9]+', 'N', msg)[:50]}")
            return True

        return (lambda i: {"x-publishable-api-key": key}), buy

    def _query(self, sql: str, *args: Any) -> Any:
        async def go() -> Any:
            import asyncpg

            conn = await asyncpg.connect(PG_URL)
            try:
                return await conn.fetchrow(sql, *args)
            finally:
                await conn.close()

        return asyncio.run(go())

    def orders(self, product: str) -> tuple[int, int]:
        row = self._query(
            'SELECT count(DISTINCT o.id), coalesce(sum(oi.quantity), 0) FROM "order" o'
            " JOIN order_item oi ON oi.order_id = o.id AND oi.deleted_at IS NULL"
            " JOIN order_line_item li ON li.id = oi.item_id"
            " WHERE li.variant_id = $1 AND o.deleted_at IS NULL",
            self.variant(product),
        )
        return int(row[0]), int(row[1])

    def stock_checks(self, product: str, units_ordered: int) -> list[tuple[bool, str]]:
        """Medusa reserves an order's stock when the cart completes: every unit in an
        order should have a reservation, and the level's reserved count should agree."""
        item = self.seed["products"][product]["inventory_item_id"]
        reserved_rows = int(
            self._query(
                "SELECT coalesce(sum(quantity), 0) FROM reservation_item"
                " WHERE inventory_item_id = $1 AND deleted_at IS NULL",
                item,
            )[0]
        )
        stocked, reserved = self._query(
            "SELECT coalesce(sum(stocked_quantity), 0), coalesce(sum(reserved_quantity), 0)"
            " FROM inventory_level WHERE inventory_item_id = $1 AND deleted_at IS NULL",
            item,
        )
        return [
            (
                reserved_rows == units_ordered,
                f"units reserved {reserved_rows} == units in orders {units_ordered}"
                " (no order without its stock reserved)",
            ),
            (
                int(reserved) == reserved_rows and int(reserved) <= int(stocked),
                f"level reserved {int(reserved)} == reservations {reserved_rows}"
                f" <= stocked {int(stocked)}",
            ),
        ]

"""The flash-sale benchmark: ``make bench`` (or ``make bench QUICK=1``).

For each stack (the embedded default, then Redis + PostgreSQL with 2 API processes) it:

1. creates a fresh database and migrates it (``python -m dropline db upgrade``);
2. seeds drops, SKUs, stock, bundles and API keys in-process through the services;
3. starts ``python -m dropline serve`` on 127.0.0.1 with ``DROPLINE_BENCH_ENDPOINTS=1``;
4. runs every scenario with ``wrk`` (warm-up, then a fixed measured time), sampling the
   CPU of the server, Redis, PostgreSQL and wrk from ``/proc``;
5. checks correctness after each scenario (no oversell, engine counts reconcile with the
   load generator's wins, the ledger verifies, orders == successful checkouts);
6. stops everything it started.

Results go to ``bench/results.json`` and ``docs/benchmarks.md``. Run it from the
repository root with the project's virtualenv: ``.venv/bin/python bench/run.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = ROOT / "bench" / "wrk"
SECRET = "bench-buyer-token-secret"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = os.environ.get("BENCH_PG_DB", "dropline_bench")
PG_URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
CLK_TCK = os.sysconf("SC_CLK_TCK")
BIG = 10_000_000


# --------------------------------------------------------------------------- plumbing


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_wrk() -> str:
    """The wrk binary, installed from the system packages when missing (Debian)."""
    path = shutil.which("wrk")
    if path:
        return path
    log("wrk not found: apt-get install -y wrk")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk could not be installed; install it and run again")
    return path


def proc_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def proc_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def all_pids() -> list[tuple[int, int, str]]:
    """(pid, ppid, comm) of every process."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                raw = (d / "stat").read_text()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            ppid = int(raw.rsplit(")", 1)[1].split()[1])
            out.append((int(d.name), ppid, comm))
    return out


def tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    procs = all_pids()
    kids: dict[int, list[int]] = {}
    for pid, ppid, _ in procs:
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def named(*names: str) -> list[int]:
    return [pid for pid, _, comm in all_pids() if comm in names]


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read() or b"null")


def stable(fn: Any, timeout: float = 30) -> Any:
    """``fn()`` once two calls 0.3 s apart agree: requests wrk left in flight finish on
    the server after wrk stops, and the checks must see their final state."""
    last = fn()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = fn()
        if now == last:
            return now
        last = now
    return last


def within(server_count: int, client_count: int, run: Any) -> bool:
    """The server counted what wrk saw win, plus at most the requests still in flight."""
    return client_count <= server_count <= client_count + int(run.extra["inflight"])


def postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


#: A measured run during which the hypervisor took more than this many cores' worth of
#: CPU is measured again, up to STEAL_ATTEMPTS times; the last attempt is kept.
STEAL_RETRY = 0.15
STEAL_ATTEMPTS = 3


def steal_ticks() -> int:
    """CPU time the hypervisor gave to other guests, all CPUs (``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) if len(fields) > 8 else 0


# --------------------------------------------------------------------------- stacks


@dataclass
class Stack:
    name: str
    label: str
    database_url: str
    engine_url: str
    workers: int


@dataclass
class Seeded:
    storefront_key: str
    ops_key: str
    hot_drop: str
    hot_sku: str
    storm_drop: str
    storm_sku: str
    storm_units: int
    bundle_drop: str
    bundle_id: str
    bundle_skus: list[str]
    bundle_offered: int
    checkout_drop: str
    checkout_sku: str
    growth: dict[int, tuple[str, list[str]]] = field(default_factory=dict)


def env_for(stack: Stack) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DROPLINE_DATABASE_URL=stack.database_url,
        DROPLINE_ENGINE_URL=stack.engine_url,
        DROPLINE_BUYER_TOKEN_SECRET=SECRET,
        DROPLINE_BENCH_ENDPOINTS="1",
        DROPLINE_BENCH_ROWLOCK_URL=PG_URL,
        DROPLINE_LOG_LEVEL="warning",
    )
    return env


async def reset_postgres() -> None:
    """A fresh, empty benchmark database (never the test suite's)."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{PG_DB}"')
    finally:
        await conn.close()


async def reset_redis() -> None:
    """Empty the benchmark's Redis db. After a growth run it holds a million holds
    (about 1 GB); a synchronous flush of that takes seconds, hence the long timeout."""
    from redis.asyncio import Redis

    r = Redis.from_url(REDIS_URL, socket_timeout=600)
    await r.flushdb()
    await r.aclose()


async def setup_rowlock(units: int) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from dropline.api.routers.platform.bench import ROWLOCK_SCHEMA

    db = create_async_engine(PG_URL)
    async with db.begin() as conn:
        for stmt in ROWLOCK_SCHEMA:
            await conn.execute(text(stmt))
        await conn.execute(text("TRUNCATE bench_rowlock_stock, bench_rowlock_holds"))
        await conn.execute(
            text("INSERT INTO bench_rowlock_stock (sku_id, remaining) VALUES ('hot', :u)"),
            {"u": units},
        )
    await db.dispose()


async def rowlock_counts() -> tuple[int, int, int]:
    """(remaining, held, hold rows) of the row-lock baseline's SKU."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    db = create_async_engine(PG_URL)
    async with db.connect() as conn:
        rem, held = (
            await conn.execute(
                text("SELECT remaining, held FROM bench_rowlock_stock WHERE sku_id = 'hot'")
            )
        ).one()
        rows = (await conn.execute(text("SELECT count(*) FROM bench_rowlock_holds"))).scalar_one()
    await db.dispose()
    return int(rem), int(held), int(rows)


async def seed(stack: Stack, growth_skus: list[int], storm_units: int) -> Seeded:
    """Catalog, stock, drops and keys, through the services (as an ops lead would)."""
    from dropline.bootstrap import build
    from dropline.config import load_settings
    from dropline.domain.live.drops import DropStatus

    settings = load_settings(
        database_url=stack.database_url,
        engine_url=stack.engine_url,
        buyer_token_secret=SECRET,
        background_tasks=False,
    )
    c = await build(settings)
    try:
        product = await c.catalog.create_product("Bench tee")
        n = 0

        async def sku(units: int) -> str:
            nonlocal n
            n += 1
            s = await c.catalog.create_sku(product.id, f"B-{n}", 2500, "USD", {"n": str(n)})
            await c.stock.receive(s.id, units, actor="bench")
            return s.id

        async def drop(name: str, offers: list[tuple[str, int]], bundle: str | None = None) -> str:
            d = await c.drops.create(name, "USD", hold_ttl_s=3600)
            for sku_id, qty in offers:
                await c.drops.set_offer(d.id, sku_id, qty)
            if bundle:
                await c.drops.add_bundle(d.id, bundle)
            await c.drops.transition(d.id, DropStatus.SCHEDULED, actor="bench")
            await c.drops.transition(d.id, DropStatus.LIVE, actor="bench")
            return d.id

        hot_sku = await sku(BIG)
        hot_drop = await drop("hot", [(hot_sku, BIG)])
        storm_sku = await sku(storm_units)
        storm_drop = await drop("storm", [(storm_sku, storm_units)])
        parts = [await sku(BIG) for _ in range(3)]
        b = await c.catalog.create_bundle(
            "BNDL-BENCH", "Tee trio", 6000, "USD", [(p, 1) for p in parts]
        )
        bundle_drop = await drop("bundles", [(p, BIG) for p in parts], b.id)
        co_sku = await sku(BIG)
        co_drop = await drop("checkout", [(co_sku, BIG)])
        growth: dict[int, tuple[str, list[str]]] = {}
        for count in growth_skus:
            t0 = time.monotonic()
            first = await sku(2_000_000 + 10_000)
            d = await c.drops.create(f"growth-{count}", "USD", hold_ttl_s=3600)
            await c.drops.set_offer(d.id, first, 2_000_000 + 10_000)
            ids = [first] + await bulk_offer(c, product.id, d.id, count - 1, 1000)
            await c.drops.transition(d.id, DropStatus.SCHEDULED, actor="bench")
            await c.drops.transition(d.id, DropStatus.LIVE, actor="bench")
            growth[count] = (d.id, ids)
            log(f"  seeded growth drop with {count} SKUs in {time.monotonic() - t0:.1f}s")
        store, _ = await c.access.create_key("bench storefront", "storefront")
        ops, _ = await c.access.create_key("bench ops", "ops")
        return Seeded(
            store,
            ops,
            hot_drop,
            hot_sku,
            storm_drop,
            storm_sku,
            storm_units,
            bundle_drop,
            b.id,
            parts,
            BIG,
            co_drop,
            co_sku,
            growth,
        )
    finally:
        await c.close()


async def bulk_offer(c: Any, product_id: str, drop_id: str, count: int, units: int) -> list[str]:
    """``count`` new SKUs, each receiving and offering ``units`` in a draft drop, as bulk
    inserts (the services take three transactions per SKU: minutes for 10,000 SKUs).
    The same rows as ``create_sku`` + ``receive`` + ``set_offer``: the SKU, its level
    (``reserved`` = units), the receipt and offer movements of the ledger, the offer;
    ``GET /v1/stock/verify`` replays them like any other."""
    from datetime import UTC, datetime

    from dropline.domain.ids import new_id
    from dropline.store.catalog.tables import skus
    from dropline.store.live.tables import drop_offers
    from dropline.store.stock.tables import stock_levels, stock_movements

    now = datetime.now(UTC)
    ids = [new_id("sku") for _ in range(count)]
    for start in range(0, count, 2000):
        chunk = ids[start : start + 2000]
        async with c.db.begin() as conn:
            await conn.execute(
                skus.insert(),
                [
                    {
                        "id": s,
                        "product_id": product_id,
                        "code": f"G-{s}",
                        "price_amount": 2500,
                        "currency": "USD",
                        "attributes": {},
                        "safety_qty": 0,
                        "safety_pct": 0,
                        "bin_location": "",
                        "created_at": now,
                    }
                    for s in chunk
                ],
            )
            await conn.execute(
                stock_levels.insert(),
                [
                    {
                        "sku_id": s,
                        "available": 0,
                        "committed": 0,
                        "reserved": units,
                        "safety": 0,
                        "quality_control": 0,
                        "damaged": 0,
                        "version": 3,
                    }
                    for s in chunk
                ],
            )
            await conn.execute(
                stock_movements.insert(),
                [
                    {
                        "sku_id": s,
                        "quantity": units,
                        "from_bucket": fb,
                        "to_bucket": tb,
                        "reason": reason,
                        "ref": ref,
                        "actor": "bench",
                        "note": "",
                        "created_at": now,
                    }
                    for s in chunk
                    for fb, tb, reason, ref in (
                        (None, "available", "receipt", ""),
                        ("available", "reserved", "offer", drop_id),
                    )
                ],
            )
            await conn.execute(
                drop_offers.insert(),
                [
                    {
                        "drop_id": drop_id,
                        "sku_id": s,
                        "offered": units,
                        "sold": 0,
                        "per_buyer_limit": None,
                        "paused": False,
                    }
                    for s in chunk
                ],
            )
    c.drops.cache.invalidate(drop_id)
    return ids


async def db_orders(stack: Stack, drop_id: str) -> tuple[int, int]:
    """(orders, units sold) of a drop, from the ledger."""
    from sqlalchemy import text

    from dropline.store.db import create_engine

    db = create_engine(stack.database_url)
    async with db.connect() as conn:
        orders = (
            await conn.execute(
                text("SELECT count(*) FROM orders WHERE drop_id = :d"), {"d": drop_id}
            )
        ).scalar_one()
        units = (
            await conn.execute(
                text(
                    "SELECT coalesce(sum(l.quantity), 0) FROM order_lines l"
                    " JOIN orders o ON o.id = l.order_id WHERE o.drop_id = :d"
                ),
                {"d": drop_id},
            )
        ).scalar_one()
    await db.dispose()
    return int(orders), int(units)


class Server:
    """``python -m dropline serve`` in its own process group."""

    def __init__(self, stack: Stack, extra_env: dict[str, str] | None = None) -> None:
        self.stack = stack
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = env_for(stack) | (extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "dropline", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--workers", str(self.stack.workers)]
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed with the process)
            prefix="bench-server-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log.name}")
            with contextlib.suppress(OSError):
                # Readiness of every worker: a few successful calls in a row.
                if all(http("GET", self.base + "/healthz") is not None for _ in range(8)):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"server did not start; see {self.log.name}")

    def pids(self) -> list[int]:
        return tree(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


# --------------------------------------------------------------------------- load


@dataclass
class Run:
    scenario: str
    stack: str
    variant: str
    connections: int
    seconds: float
    requests: int
    rps: float
    ok: int
    conflict: int
    other: int
    p50_ms: float
    p99_ms: float
    cpu: dict[str, float]
    checks: list[str]
    extra: dict[str, Any] = field(default_factory=dict)


class Load:
    def __init__(self, wrk: str, work: Path, tokens: list[str], key: str) -> None:
        self.wrk = wrk
        self.work = work
        self.tokens = tokens
        self.key = key
        self.n = 0

    def datafile(self, cfg: dict[str, Any]) -> Path:
        def lua(v: Any) -> str:
            if isinstance(v, str):
                return json.dumps(v)
            if isinstance(v, list):
                return "{" + ",".join(lua(x) for x in v) + "}"
            if isinstance(v, dict):
                return "{" + ",".join(f"{k}={lua(x)}" for k, x in v.items()) + "}"
            return str(v)

        self.n += 1
        path = self.work / f"data{self.n}.lua"
        path.write_text("return " + lua(cfg) + "\n")
        return path

    def run(
        self,
        base: str,
        script: str,
        cfg: dict[str, Any],
        seconds: float,
        connections: int,
        threads: int,
        watch: dict[str, Any],
    ) -> tuple[dict[str, Any], dict[str, float]]:
        """Run wrk; return its JSON summary and CPU (cores busy) per watched group."""
        data = self.datafile(cfg)
        cmd = [
            self.wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
        ]
        cmd += ["-s", str(WRK_DIR / script), base, "--", str(data)]
        before = {k: {p: proc_ticks(p) for p in f()} for k, f in watch.items()}
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        steal0 = steal_ticks()
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate()
        wall = time.monotonic() - t0
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # Processes that started during the run count in full, ones that ended are lost
        # (PostgreSQL backends of a pool live as long as the pool).
        after = {k: sum(proc_ticks(p) - before[k].get(p, 0) for p in f()) for k, f in watch.items()}
        cpu = {k: round(max(0, after[k]) / CLK_TCK / wall, 2) for k in watch}
        used = kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime
        cpu["wrk"] = round(used / wall, 2)
        # A virtual machine's CPU taken by other guests: when it is high, the run is slow
        # for reasons outside this machine (cores' worth, like the rest).
        cpu["steal"] = round((steal_ticks() - steal0) / CLK_TCK / wall, 2)
        text_out = out.decode()
        line = next((x for x in text_out.splitlines() if x.startswith("BENCHJSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no summary: {text_out}\n{err.decode()}")
        return json.loads(line.removeprefix("BENCHJSON ")), cpu


# --------------------------------------------------------------------------- scenarios


@dataclass
class Plan:
    warmup: float
    seconds: float
    connections: int
    growth_skus: list[int]
    growth_holds: list[int]
    storm_units: int
    tokens: int
    stacks: list[str]
    # Active holds on the Redis engine are seeded through Lua scripts, ~100x slower than
    # in memory on this machine: fewer of them keep the run short.
    remote_growth_holds: list[int] | None = None


PLANS = {
    "full": Plan(2, 10, 64, [1, 1_000, 10_000], [0, 100_000, 1_000_000], 2_000, 20_000, []),
    "quick": Plan(1, 3, 64, [1, 1_000], [0, 100_000], 1_000, 5_000, [], [0, 10_000]),
    "tiny": Plan(0, 1, 4, [1, 10], [0, 1_000], 50, 200, []),
}


def hold_body(item: dict[str, Any]) -> str:
    return json.dumps({"items": [item]}, separators=(",", ":"))


async def settle(stack: Stack, timeout: float = 600) -> None:
    """Wait until background work (hold events into pages) has caught up."""
    from sqlalchemy import text

    from dropline.store.db import create_engine

    db = create_engine(stack.database_url)
    last, since, t0 = -1, time.monotonic(), time.monotonic()
    while time.monotonic() - t0 < timeout:
        async with db.connect() as conn:
            n = (
                await conn.execute(text("SELECT coalesce(sum(n), 0) FROM hold_event_pages"))
            ).scalar_one()
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > 1.0:
            break
        await asyncio.sleep(0.25)
    await db.dispose()


async def quiesce(stack: Stack) -> None:
    """Let the database catch up on the earlier scenarios' writes (checkout, row-lock)
    before the growth runs compare latencies. PostgreSQL's autovacuum and checkpoints,
    or SQLite's WAL, would otherwise land on whichever growth run they coincide with:
    twice on the 10,000-SKU run (p99 1.7-2.8 × the 1-SKU run; run alone, 0.9 ×)."""
    if stack.database_url.startswith("postgresql"):
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(stack.database_url.replace("+asyncpg", ""))
        try:
            await conn.execute("VACUUM ANALYZE")
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()
    else:
        path = stack.database_url.split("///", 1)[1]
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as lite:
            lite.execute("PRAGMA wal_checkpoint(PASSIVE)")
    os.sync()
    await asyncio.sleep(2)


class Bench:
    def __init__(self, plan: Plan, wrk: str, work: Path) -> None:
        self.plan = plan
        self.wrk = wrk
        self.work = work
        self.runs: list[Run] = []
        self.failures: list[str] = []
        self.memory: list[dict[str, Any]] = []
        self.pg = True
        self.only: set[str] | None = None

    def want(self, scenario: str) -> bool:
        return self.only is None or scenario in self.only

    def check(self, checks: list[str], ok: bool, what: str) -> None:
        checks.append(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failures.append(what)
            log(f"  CHECK FAILED: {what}")

    def measure(
        self,
        stack: Stack,
        server: Server,
        load: Load,
        scenario: str,
        variant: str,
        cfg: dict[str, Any],
        *,
        script: str = "post.lua",
        connections: int | None = None,
        threads: int = 2,
    ) -> tuple[Run, int, dict[str, Any]]:
        """Warm up, then measure; returns the run, the total 2xx count over warm-up and
        measured time (for reconciliation) and the raw measured summary."""
        conns = connections or self.plan.connections
        watch: dict[str, Any] = {"server": server.pids}
        if stack.engine_url.startswith("redis"):
            watch["redis"] = lambda: named("redis-server")
        if stack.database_url.startswith("postgresql") or variant == "row-lock":
            watch["postgres"] = lambda: named("postgres")
        total_ok = 0
        extra: dict[str, Any] = {}
        if self.plan.warmup:
            warm, _ = load.run(server.base, script, cfg, self.plan.warmup, conns, threads, watch)
            total_ok += warm["ok"]
            extra["warmup_ok"] = warm["ok"]
            extra["warmup_holds"] = warm.get("holds", 0)
            extra["warmup_marked"] = warm["marked"]
        attempts = 0
        while True:
            res, cpu = load.run(server.base, script, cfg, self.plan.seconds, conns, threads, watch)
            attempts += 1
            if cpu.get("steal", 0.0) <= STEAL_RETRY or attempts >= STEAL_ATTEMPTS:
                break
            # Another guest of the host took part of the machine: this run says more
            # about the host than about the code. It counts as warm-up; measure again.
            log(f"  {scenario} {variant}: {cpu['steal']} of a core stolen; measuring again")
            total_ok += res["ok"]
            for key in ("ok", "holds", "marked"):
                extra[f"warmup_{key}"] = extra.get(f"warmup_{key}", 0) + res.get(key, 0)
        total_ok += res["ok"]
        extra["attempts"] = attempts
        # wrk stops with up to one request in flight per connection: the server finishes
        # it but wrk does not count the answer, so server-side counts may exceed wrk's
        # wins by at most this much (per wrk run: warm-up and every attempt).
        extra["inflight"] = conns * ((1 if self.plan.warmup else 0) + attempts)
        secs = res["duration_us"] / 1e6
        run = Run(
            scenario=scenario,
            stack=stack.name,
            variant=variant,
            connections=conns,
            seconds=round(secs, 2),
            requests=res["requests"],
            rps=round(res["requests"] / secs, 1),
            ok=res["ok"],
            conflict=res["conflict"],
            other=res["other"] + res["socket_errors"],
            p50_ms=round(res["p50_us"] / 1000, 2),
            p99_ms=round(res["p99_us"] / 1000, 2),
            cpu=cpu,
            checks=[],
            extra=extra
            | {
                "loadavg": loadavg(),
                # server CPU time per request: steadier than req/s on a busy machine
                "cpu_us_per_req": round(cpu["server"] * 1e6 / max(1.0, res["requests"] / secs)),
            },
        )
        if res["other"] or res["socket_errors"]:
            self.check(
                run.checks,
                False,
                f"{scenario}/{variant}: {res['other']} unexpected responses "
                f"(last status {res['other_status']}), {res['socket_errors']} socket errors",
            )
        log(
            f"  {scenario:<10} {variant:<22} {run.rps:>9.1f} req/s  p50 {run.p50_ms} ms"
            f"  p99 {run.p99_ms} ms  cpu {cpu}"
        )
        self.runs.append(run)
        return run, total_ok, res

    def alternate(
        self,
        load: Load,
        base: str,
        a: tuple[Run, dict[str, Any]],
        b: tuple[Run, dict[str, Any]],
        rounds: int = 4,
    ) -> None:
        """Measure two scenarios again in alternating slices (a, b, a, b, ...) and
        record each one's req/s over its slices as ``extra["alternating_rps"]``.

        Their ratio is a target, and on this machine the speed of the same run drifts by
        10-25 % within a minute: measured one after the other, the drift lands on one
        side of the ratio only. Alternating short slices puts it on both alike."""
        secs = max(1.0, self.plan.seconds / rounds)
        sums = {id(r): [0, 0.0] for r, _ in (a, b)}
        for _ in range(rounds):
            for r, cfg in (a, b):
                res, _ = load.run(base, "post.lua", cfg, secs, r.connections, 2, {})
                sums[id(r)][0] += res["requests"]
                sums[id(r)][1] += res["duration_us"] / 1e6
                if res["other"] or res["socket_errors"]:
                    self.check(
                        r.checks,
                        False,
                        f"{r.scenario} (alternating): {res['other']} unexpected responses, "
                        f"{res['socket_errors']} socket errors",
                    )
                if r.scenario == "sold-out" and res["ok"]:
                    self.check(r.checks, False, f"sold-out (alternating): {res['ok']} wins")
        for r, _ in (a, b):
            n, s = sums[id(r)]
            r.extra["alternating_rps"] = round(n / s, 1) if s else 0.0
        log(
            f"  alternating {rounds} x {secs:.1f} s: "
            + ", ".join(f"{r.scenario} {r.extra['alternating_rps']:.1f} req/s" for r, _ in (a, b))
        )

    def run_stack(self, stack: Stack, only_hot: bool = False) -> None:
        plan = self.plan
        log(f"stack {stack.name}: {stack.label}")
        env = env_for(stack)
        if stack.database_url.startswith("postgresql"):
            asyncio.run(reset_postgres())
        if stack.engine_url.startswith("redis"):
            asyncio.run(reset_redis())
        for attempt in range(3):
            up = subprocess.run(
                [sys.executable, "-m", "dropline", "db", "upgrade"], env=env, capture_output=True
            )
            if up.returncode == 0:
                break
            # a shared PostgreSQL may briefly refuse ("too many clients"): try again
            log(f"  db upgrade failed: {up.stderr.decode()[-300:]}")
            if attempt == 2:
                raise RuntimeError("python -m dropline db upgrade failed")
            time.sleep(3)
        t0 = time.monotonic()
        seeded = asyncio.run(seed(stack, [] if only_hot else plan.growth_skus, plan.storm_units))
        log(f"  seeded in {time.monotonic() - t0:.1f}s")
        from dropline.services.platform.access import mint_buyer_token

        tokens = [
            mint_buyer_token(SECRET, f"bench-{stack.name}-{i}", 24 * 3600)
            for i in range(plan.tokens)
        ]
        load = Load(self.wrk, self.work, tokens, seeded.storefront_key)
        # The previous stack's files (a million-hold SQLite database after growth) and
        # this stack's seed are still being written back by the kernel; measured runs
        # must not share the machine with that.
        os.sync()
        time.sleep(3)
        server = Server(stack)
        server.start()
        try:
            self._scenarios(stack, server, load, seeded, only_hot)
        finally:
            server.stop()
            log(f"  server stopped (log {server.log.name})")
            if stack.engine_url.startswith("redis"):
                asyncio.run(reset_redis())  # leave Redis as empty as it was found

    def _scenarios(
        self, stack: Stack, server: Server, load: Load, sd: Seeded, only_hot: bool
    ) -> None:
        base = server.base
        key = sd.storefront_key
        ops = {"Authorization": f"Bearer {sd.ops_key}"}
        tokens = load.tokens
        hot = hold_body({"sku_id": sd.hot_sku, "quantity": 1})

        def counts(drop_id: str) -> dict[str, dict[str, int]]:
            out: dict[str, dict[str, int]] = stable(
                lambda: http("GET", f"{base}/bench/counts/{drop_id}")
            )
            return out

        def verify(checks: list[str], what: str) -> None:
            v = http("GET", f"{base}/v1/stock/verify", headers=ops)
            self.check(checks, bool(v["consistent"]), f"{what}: GET /v1/stock/verify consistent")

        hot_cfg = {
            "paths": [f"/v1/drops/{sd.hot_drop}/holds"],
            "bodies": [hot],
            "tokens": tokens,
            "key": key,
        }
        if not only_hot and self.want("ceiling"):
            # 1. the ceiling of the HTTP stack
            self.measure(
                stack,
                server,
                load,
                "hot-sku",
                "ceiling",
                {"paths": ["/bench/ceiling"], "bodies": [hot], "tokens": tokens, "key": key},
            )
            # the same endpoint through the full FastAPI route stack, for scale
            self.measure(
                stack,
                server,
                load,
                "hot-sku",
                "ceiling (FastAPI route)",
                {"paths": ["/bench/ceiling-fastapi"], "bodies": [hot]},
            )
        # 3. hot SKU holds
        if self.want("hot"):
            run, total, _ = self.measure(stack, server, load, "hot-sku", "dropline holds", hot_cfg)
            hot_run = run
            c = counts(sd.hot_drop)[sd.hot_sku]
            self.check(
                run.checks,
                within(c["held"], total, run) and c["remaining"] + c["held"] == BIG,
                f"hot: remaining {c['remaining']} + held {c['held']} == offered {BIG}; "
                f"wins {total} <= held <= wins + {run.extra['inflight']}",
            )
        if only_hot:
            return
        if self.want("hot"):
            verify(run.checks, "hot")
        if self.want("sold-out"):
            # 4. sold-out storm: the warm-up sells the units out, the measured run is refusals
            storm = hold_body({"sku_id": sd.storm_sku, "quantity": 1})
            storm_cfg = {
                "paths": [f"/v1/drops/{sd.storm_drop}/holds"],
                "bodies": [storm],
                "tokens": tokens,
                "key": key,
                "conflict_mark": '"code":"sold_out"',
            }
            sellout_wins, sellout_runs, t0 = 0, 0, time.monotonic()
            while counts(sd.storm_drop)[sd.storm_sku]["remaining"] > 0:
                if time.monotonic() - t0 > 300:
                    raise RuntimeError("the sold-out SKU did not sell out in 5 minutes")
                res0, _ = load.run(base, "post.lua", storm_cfg, 1, self.plan.connections, 2, {})
                sellout_wins += res0["ok"]
                sellout_runs += 1
            log(f"  sold {sd.storm_units} units out in {time.monotonic() - t0:.1f}s")
            run, total, res = self.measure(
                stack,
                server,
                load,
                "sold-out",
                "dropline holds",
                storm_cfg,
            )
            total += sellout_wins
            run.extra["inflight"] += sellout_runs * self.plan.connections
            c = counts(sd.storm_drop)[sd.storm_sku]
            self.check(
                run.checks,
                sd.storm_units == c["held"]
                and c["remaining"] == 0
                and within(c["held"], total, run),
                f"sold-out: winners (held units) {c['held']} == units {sd.storm_units}, "
                f"remaining {c['remaining']} == 0; wrk saw {total} wins "
                f"(<= {run.extra['inflight']} in flight)",
            )
            self.check(
                run.checks,
                res["ok"] == 0 and res["conflict"] == res["conflict_marked"] == res["requests"],
                f"sold-out: measured run all 409 sold_out ({res['conflict_marked']} sold_out "
                f"of {res['conflict']} 409 of {res['requests']})",
            )
            if self.want("hot"):
                self.alternate(load, base, (hot_run, hot_cfg), (run, storm_cfg))
        if self.want("bundles"):
            # 5. bundles: the 3-component bundle and its components sold alone
            bodies = [hold_body({"bundle_id": sd.bundle_id, "quantity": 1})] + [
                hold_body({"sku_id": s, "quantity": 1}) for s in sd.bundle_skus
            ]
            bodies = [bodies[0], bodies[1], bodies[0], bodies[2], bodies[0], bodies[3]]
            path = f"/v1/drops/{sd.bundle_drop}/holds"
            run, total, res = self.measure(
                stack,
                server,
                load,
                "bundles",
                "dropline holds",
                {
                    "paths": [path],
                    "bodies": bodies,
                    "tokens": tokens,
                    "key": key,
                    "mark": sd.bundle_id,
                },
            )
            cs = counts(sd.bundle_drop)
            held = sum(cs[s]["held"] for s in sd.bundle_skus)
            bundle_wins = res["marked"] + run.extra.get("warmup_marked", 0)
            conserved = all(
                cs[s]["remaining"] + cs[s]["held"] == sd.bundle_offered for s in sd.bundle_skus
            )
            # held units = 3 per bundle hold + 1 per single hold
            expected = 3 * bundle_wins + (total - bundle_wins)
            self.check(
                run.checks,
                conserved and expected <= held <= expected + 3 * run.extra["inflight"],
                f"bundles: every component remaining + held == offered; held units {held}"
                f" == 3 x {bundle_wins} bundle wins + {total - bundle_wins} single wins"
                f" (+ at most 3 x {run.extra['inflight']} in flight)",
            )
            verify(run.checks, "bundles")
        if self.want("checkout"):
            # 6. full checkout: hold -> checkout -> sandbox payment -> order
            co_cfg = {
                "hold_path": f"/v1/drops/{sd.checkout_drop}/holds",
                "body": hold_body({"sku_id": sd.checkout_sku, "quantity": 1}),
                "tokens": tokens,
                "key": key,
                "card": "pm_card_visa",
            }
            # 32 connections: 64 concurrent checkouts would need more PostgreSQL
            # connections than a default server (max_connections = 100) shares.
            conns = min(32, self.plan.connections)
            run, total, res = self.measure(
                stack,
                server,
                load,
                "checkout",
                "orders",
                co_cfg,
                script="checkout.lua",
                connections=conns,
                threads=conns,
            )
            run.extra["orders_per_s"] = round(res["orders"] / (res["duration_us"] / 1e6), 1)
            log(f"  checkout   orders/s {run.extra['orders_per_s']}")
            holds_total = res["holds"] + run.extra.get("warmup_holds", 0)
            orders, sold, c = stable(
                lambda: (
                    *asyncio.run(db_orders(stack, sd.checkout_drop)),
                    counts(sd.checkout_drop)[sd.checkout_sku],
                )
            )
            self.check(
                run.checks,
                orders == sold and within(orders, total, run),
                f"checkout: orders in the ledger {orders} == units sold {sold}; checkouts wrk saw"
                f" succeed {total} <= orders <= {total} + {run.extra['inflight']}",
            )
            self.check(
                run.checks,
                c["remaining"] + c["held"] + sold == BIG
                and within(c["held"], holds_total - orders, run),
                f"checkout: remaining {c['remaining']} + held {c['held']} + sold {sold} =="
                f" offered {BIG}; held ~ holds {holds_total} - orders {orders}",
            )
            verify(run.checks, "checkout")
        if not only_hot and self.pg and self.want("row-lock"):
            # 2. the row-lock baseline (after checkout: its connection pools stay
            # open; before growth: not beside a million holds)
            rowlock_units = BIG
            asyncio.run(setup_rowlock(rowlock_units))
            run, total, _ = self.measure(
                stack,
                server,
                load,
                "hot-sku",
                "row-lock",
                {"paths": ["/bench/rowlock/hot"], "bodies": [hot], "tokens": tokens, "key": key},
            )
            rem, held, rows = stable(lambda: asyncio.run(rowlock_counts()))
            self.check(
                run.checks,
                rem + held == rowlock_units and held == rows and within(rows, total, run),
                f"row-lock: remaining {rem} + held {held} == {rowlock_units}; hold rows "
                f"{rows} == held; wins {total} <= rows <= wins + {run.extra['inflight']}",
            )
        if self.want("growth"):
            # 7. growth: SKUs in the drop, then active holds (seeded last, so every SKU
            # count is measured with no other holds in the engine)
            asyncio.run(quiesce(stack))
            first_drop, first_ids = sd.growth[self.plan.growth_skus[0]]
            first_wins = 0
            for n, (drop_id, ids) in sd.growth.items():
                run, total, _ = self.measure(
                    stack,
                    server,
                    load,
                    "growth",
                    f"{n} SKUs, 0 holds",
                    {
                        "paths": [f"/v1/drops/{drop_id}/holds"],
                        "bodies": [hold_body({"sku_id": s, "quantity": 1}) for s in ids],
                        "tokens": tokens,
                        "key": key,
                    },
                    connections=16,
                )
                held = sum(v["held"] for v in counts(drop_id).values())
                self.check(
                    run.checks,
                    within(held, total, run),
                    f"growth {n} SKUs: wins {total} <= engine held {held} <= wins + in flight",
                )
                if n == self.plan.growth_skus[0]:
                    first_wins = total
            self._active_holds(stack, server, load, first_drop, first_ids[0], first_wins)

    def _active_holds(
        self, stack: Stack, server: Server, load: Load, drop_id: str, sku: str, wins: int
    ) -> None:
        base = server.base
        seeded = 0
        slack = 2 * 16
        targets = self.plan.growth_holds
        if stack.engine_url.startswith("redis") and self.plan.remote_growth_holds:
            targets = self.plan.remote_growth_holds
        for target in targets[1:]:
            before = self._memory(stack, server)
            t0 = time.monotonic()
            http(
                "POST",
                f"{base}/bench/seed-holds",
                {
                    "drop_id": drop_id,
                    "sku_id": sku,
                    "count": target - seeded,
                    "buyer_prefix": f"seed{target}",
                },
            )
            log(f"  seeded {target - seeded} active holds in {time.monotonic() - t0:.1f}s")
            asyncio.run(settle(stack))
            after = self._memory(stack, server)
            self.memory.append(
                {
                    "stack": stack.name,
                    "holds": target,
                    "added": target - seeded,
                    "bytes": after - before,
                    "per_hold": round((after - before) / (target - seeded)),
                }
            )
            seeded = target
            run, total, _ = self.measure(
                stack,
                server,
                load,
                "growth",
                f"1 SKU, {target:,} holds",
                {
                    "paths": [f"/v1/drops/{drop_id}/holds"],
                    "bodies": [hold_body({"sku_id": sku, "quantity": 1})],
                    "tokens": load.tokens,
                    "key": load.key,
                },
                connections=16,
            )
            wins += total
            slack += run.extra["inflight"]
            held = stable(lambda: http("GET", f"{base}/bench/counts/{drop_id}"))[sku]["held"]
            self.check(
                run.checks,
                wins + seeded <= held <= wins + seeded + slack,
                f"growth {target} holds: seeded {seeded} + wins {wins} <= engine held {held}"
                f" <= that + {slack} in flight",
            )

    def _memory(self, stack: Stack, server: Server) -> int:
        if stack.engine_url.startswith("redis"):

            async def used() -> int:
                from redis.asyncio import Redis

                r = Redis.from_url(REDIS_URL)
                info = await r.info("memory")
                await r.aclose()
                return int(info["used_memory"])

            return asyncio.run(used())
        return sum(proc_rss(p) for p in server.pids())


# --------------------------------------------------------------------------- report

SCENARIOS = ("ceiling", "row-lock", "hot", "sold-out", "bundles", "checkout", "growth")
STACKS = {
    "embedded": Stack("embedded", "memory engine + SQLite, 1 API process", "", "memory", 1),
    "redis-pg": Stack(
        "redis-pg", "Redis engine + PostgreSQL, 2 API processes", PG_URL, REDIS_URL, 2
    ),
    # Only the hot-SKU run: the Redis engine against the memory engine on the same
    # stack (SQLite, one API process), for the coalescing target.
    "redis-sqlite": Stack("redis-sqlite", "Redis engine + SQLite, 1 API process", "", REDIS_URL, 1),
}


def machine(wrk: str) -> str:
    """One line naming the machine and the stack's versions, stored with the results."""
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    wrk_v = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    versions = []
    for mod in ("fastapi", "uvicorn", "uvloop", "httptools", "pydantic", "orjson"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions.append(f"{mod} {version(mod)}")
    return (
        f"{os.cpu_count()} CPU cores ({cpu}), {mem} GiB RAM, {platform.platform()}, "
        f"Python {platform.python_version()}; "
        + (wrk_v.stdout or wrk_v.stderr).splitlines()[0].split(" [")[0]
        + "; "
        + ", ".join(versions)
    )


def find(runs: list[Run], stack: str, scenario: str, variant: str) -> Run | None:
    return next(
        (r for r in runs if r.stack == stack and r.scenario == scenario and r.variant == variant),
        None,
    )


def fmt_ratio(r: float, need: float) -> str:
    """Two decimals, or three where two would round a miss (or a hit) onto the target."""
    return f"{r:.3f}" if f"{r:.2f}" == f"{need:.2f}" else f"{r:.2f}"


def targets(runs: list[Run]) -> list[tuple[str, str, str]]:
    """(target, measured, met?) rows."""
    out: list[tuple[str, str, str]] = []

    def ratio(name: str, a: Run | None, b: Run | None, need: float, attr: str = "rps") -> None:
        if a is None or b is None:
            return
        va = a.extra.get(attr, getattr(a, attr, 0))
        vb = b.extra.get(attr, getattr(b, attr, 0))
        r = va / vb if vb else 0.0
        out.append(
            (
                name,
                f"{va:,.0f} / {vb:,.0f} = {fmt_ratio(r, need)}",
                "met" if r >= need else "NOT met",
            )
        )

    for st in ("embedded", "redis-pg"):
        hot = find(runs, st, "hot-sku", "dropline holds")
        ratio(
            f"[{st}] hot-SKU holds ≥ 0.6 × ceiling", hot, find(runs, st, "hot-sku", "ceiling"), 0.6
        )
        ratio(f"[{st}] hot-SKU holds ≥ 8 × row-lock", hot, find(runs, st, "hot-sku", "row-lock"), 8)
        sold = find(runs, st, "sold-out", "dropline holds")
        alt = "alternating_rps"
        if sold is not None and hot is not None and alt in sold.extra and alt in hot.extra:
            va, vb = sold.extra[alt], hot.extra[alt]
            r = va / vb if vb else 0.0
            out.append(
                (
                    f"[{st}] sold-out rejections ≥ 1.5 × hot-SKU holds",
                    f"{va:,.0f} / {vb:,.0f} = {fmt_ratio(r, 1.5)} in alternating slices "
                    f"({sold.rps:,.0f} / {hot.rps:,.0f} = {sold.rps / hot.rps:.2f} one after the"
                    " other)",
                    "met" if r >= 1.5 else "NOT met",
                )
            )
        else:
            ratio(f"[{st}] sold-out rejections ≥ 1.5 × hot-SKU holds", sold, hot, 1.5)
    ratio(
        "Redis engine holds ≥ 0.8 × memory engine (SQLite, 1 process)",
        find(runs, "redis-sqlite", "hot-sku", "dropline holds"),
        find(runs, "embedded", "hot-sku", "dropline holds"),
        0.8,
    )
    co = find(runs, "embedded", "checkout", "orders")
    if co is not None:
        v = co.extra["orders_per_s"]
        out.append(
            (
                "[embedded] full checkout ≥ 2,000 orders/s",
                f"{v:,.0f} orders/s",
                "met" if v >= 2000 else "NOT met",
            )
        )
    for st in ("embedded", "redis-pg"):
        growth = [r for r in runs if r.stack == st and r.scenario == "growth"]
        if not growth:
            continue
        base = growth[0]
        for r in growth[1:]:
            if "10,000 SKUs" in r.variant or "10000 SKUs" in r.variant or "1,000,000" in r.variant:
                rr = r.p99_ms / base.p99_ms if base.p99_ms else 0
                out.append(
                    (
                        f"[{st}] hold p99 at {r.variant} ≤ 1.25 × at {base.variant}",
                        f"{r.p99_ms} / {base.p99_ms} ms = {rr:.2f}",
                        "met" if rr <= 1.25 else "NOT met",
                    )
                )
    return out


def tries(run: Run) -> str:
    n = int(run.extra.get("attempts", 1))
    return f" (attempt {n})" if n > 1 else ""


def render(bench: Bench, command: str, started: str, host: str, notes: str) -> str:
    runs = bench.runs
    lines = [
        "# Benchmarks",
        "",
        "Flash-sale throughput of dropline measured side by side with the ceiling of its",
        "HTTP stack and with a row-lock hold, in one run, on one machine. Produced by",
        "`bench/run.py` (see *How to run* below); every number here is from the run",
        "described in this file. Speed is measured here, never in a timed test.",
        "",
        f"- **Command:** `{command}`",
        f"- **Run started:** {started} UTC",
        f"- **Machine:** {host}",
        "- **Load generator:** `wrk` (compiled, LuaJIT scripts in `bench/wrk/`), "
        "closed loop, 2 threads unless stated; its own CPU is in the `wrk` column.",
        "- **CPU** columns are cores busy during the measured window (2.0 = both cores), "
        "read from `/proc/<pid>/stat`.",
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    for name, measured, met in targets(runs):
        lines.append(f"| {name} | {measured} | **{met}** |")
    for st in ("embedded", "redis-pg", "redis-sqlite"):
        rs = [r for r in runs if r.stack == st]
        if not rs:
            continue
        lines += ["", f"## {STACKS[st].label} (`{st}`)", ""]
        for scen in dict.fromkeys(r.scenario for r in rs):
            lines += [
                f"### {scen}",
                "",
                "| variant | conns | req/s | 2xx | 409 | other | p50 ms | p99 ms | CPU "
                "server | server CPU µs/req | CPU redis | CPU pg | CPU wrk | stolen | load avg |",
                "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
            ]
            for r in (x for x in rs if x.scenario == scen):
                c = r.cpu
                extra = (
                    f" ({r.extra['orders_per_s']:,.0f} orders/s)"
                    if "orders_per_s" in r.extra
                    else ""
                )
                lines.append(
                    f"| {r.variant}{extra} | {r.connections} | {r.rps:,.0f} | {r.ok:,} | "
                    f"{r.conflict:,} | {r.other:,} | {r.p50_ms} | {r.p99_ms} | "
                    f"{c.get('server', '')} | {r.extra['cpu_us_per_req']:,} | "
                    f"{c.get('redis', '')} | {c.get('postgres', '')} "
                    f"| {c.get('wrk', '')} | {c.get('steal', '')}{tries(r)} "
                    f"| {r.extra.get('loadavg', '')} |"
                )
            lines += ["", "Correctness checks after each run:", ""]
            for r in (x for x in rs if x.scenario == scen):
                for ch in r.checks:
                    lines.append(f"- {r.variant}: `{ch}`")
            lines.append("")
        mem = [m for m in bench.memory if m["stack"] == st]
        if mem:
            lines += [
                "### memory per active hold",
                "",
                "| active holds | added | bytes added | bytes per hold |",
                "|--:|--:|--:|--:|",
            ]
            for m in mem:
                lines.append(
                    f"| {m['holds']:,} | {m['added']:,} | {m['bytes']:,} | {m['per_hold']:,} |"
                )
            where = "Redis `used_memory`" if st != "embedded" else "RSS of the API process"
            lines += ["", f"Measured as the growth of {where} while seeding.", ""]
    lines += ["", notes.strip(), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=sorted(PLANS), default="full")
    ap.add_argument(
        "--stacks",
        default="embedded,redis-sqlite,redis-pg",
        help="comma-separated: " + ", ".join(STACKS),
    )
    ap.add_argument(
        "--out", default=str(ROOT / "docs" / "benchmarks.md"), help="markdown report ('-' for none)"
    )
    ap.add_argument("--json", default=str(ROOT / "bench" / "results.json"))
    ap.add_argument(
        "--notes", default=str(ROOT / "bench" / "notes.md"), help="analysis appended to the report"
    )
    ap.add_argument(
        "--scenarios", default="", help="only these (comma-separated): " + ",".join(SCENARIOS)
    )
    ap.add_argument(
        "--render",
        metavar="RESULTS_JSON",
        help="only rewrite the report from a results file (e.g. after editing"
        " bench/notes.md); runs nothing",
    )
    args = ap.parse_args(argv)
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        bench = Bench(PLANS[saved["mode"]], "wrk", Path("."))
        bench.runs = [Run(**r) for r in saved["runs"]]
        bench.memory = saved["memory"]
        notes = Path(args.notes).read_text() if Path(args.notes).exists() else ""
        command = saved.get("command", "make bench")
        host = saved.get("machine", "not recorded with these results")
        Path(args.out).write_text(render(bench, command, saved["started"], host, notes))
        log(f"wrote {args.out} from {args.render}")
        return 0
    plan = PLANS[args.mode]
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    wrk = ensure_wrk()
    host = machine(wrk)
    with tempfile.TemporaryDirectory(prefix="dropline-bench-") as tmp:
        work = Path(tmp)
        bench = Bench(plan, wrk, work)
        bench.pg = postgres_up()
        bench.only = set(args.scenarios.split(",")) if args.scenarios else None
        names = args.stacks.split(",")
        needs_pg = bench.want("row-lock") or any(STACKS[n].database_url for n in names)
        if bench.pg and needs_pg:
            asyncio.run(reset_postgres())
        elif needs_pg:
            log("PostgreSQL is not reachable: the row-lock baseline is skipped")
        for name in args.stacks.split(","):
            st = STACKS[name]
            if not st.database_url:
                st = Stack(
                    st.name,
                    st.label,
                    f"sqlite+aiosqlite:///{work}/{name}.db",
                    st.engine_url,
                    st.workers,
                )
            bench.run_stack(st, only_hot=name == "redis-sqlite")
    command = "make bench" + {"quick": " QUICK=1", "full": "", "tiny": " (tiny)"}[args.mode]
    if args.json != "-":
        Path(args.json).write_text(
            json.dumps(
                {
                    "started": started,
                    "mode": args.mode,
                    "command": command,
                    "machine": host,
                    "runs": [asdict(r) for r in bench.runs],
                    "memory": bench.memory,
                    "failures": bench.failures,
                },
                indent=1,
            )
        )
    if args.out != "-":
        notes = Path(args.notes).read_text() if Path(args.notes).exists() else ""
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(render(bench, command, started, host, notes))
        log(f"wrote {args.out}")
    if bench.failures:
        log(f"{len(bench.failures)} correctness check(s) FAILED")
        return 1
    log("all correctness checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def mint_token(n: int) -> str:
    """A one-day buyer token for bench buyer ``n``."""
    from dropline.services.platform.access import mint_buyer_token

    return mint_buyer_token(SECRET, f"bench-buyer-{n}", 24 * 3600)

"""The flash-sale benchmark's harness, behind ``bench/run.py`` (``make bench``).

By responsibility:

- ``procs``: logging, free ports, the wrk binary, CPU/RSS/steal readings from ``/proc``;
- ``stacks``: the stacks (database, engine, API processes), their server environment,
  and the resets of the benchmark's PostgreSQL database and Redis db;
- ``seeding``: seeding drops, stock, bundles, keys and buyer tokens, and reading the
  ledger and the row-lock baseline back (every ``dropline`` import of the harness);
- ``servers``: the API server under test and the JSON client that talks to it;
- ``load``: the plans, wrk runs and the record of one measured run;
- ``checks``: stable reads, in-flight tolerances, settling and quiescing the database;
- ``measure``: measuring one scenario (warm-up, steal retries, alternating slices);
- ``scenarios``: ``Bench``, which runs every scenario on a stack and checks it;
- ``race``: the last-unit race's buyers (threads released together) and its record;
- ``peers``: a peer in the run (``--peer``): its protocol and how it is driven;
- ``medusa``: the Medusa v2 peer (npm install into a scratch folder, seed, store API);
- ``compare``: dropline beside a peer on the page (ratios, oversold side by side);
- ``render``: the machine line, the targets and ``docs/benchmarks.md``.

The names the scripts in ``bench/`` use are importable from the package itself.
"""

from .checks import quiesce, settle, stable, within
from .load import PLANS, WRK_DIR, Load, Plan, Run, hold_body
from .measure import BenchCore
from .procs import ensure_wrk, free_port, log
from .render import machine, render, targets
from .scenarios import SCENARIOS, Bench
from .seeding import BIG, Seeded, buyer_tokens, db_orders, mint_token, seed
from .servers import Server, http
from .stacks import (
    PG_URL,
    REDIS_URL,
    SECRET,
    STACKS,
    Stack,
    env_for,
    postgres_up,
    reset_postgres,
    reset_redis,
)

__all__ = [
    "BIG",
    "PG_URL",
    "PLANS",
    "REDIS_URL",
    "SCENARIOS",
    "SECRET",
    "STACKS",
    "WRK_DIR",
    "Bench",
    "BenchCore",
    "Load",
    "Plan",
    "Run",
    "Seeded",
    "Server",
    "Stack",
    "buyer_tokens",
    "db_orders",
    "ensure_wrk",
    "env_for",
    "free_port",
    "hold_body",
    "http",
    "log",
    "machine",
    "mint_token",
    "postgres_up",
    "quiesce",
    "render",
    "reset_postgres",
    "reset_redis",
    "seed",
    "settle",
    "stable",
    "targets",
    "within",
]

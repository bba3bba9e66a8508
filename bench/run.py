"""The flash-sale benchmark: ``make bench`` (or ``make bench QUICK=1``).

For each stack (the embedded default, Redis + PostgreSQL with 2 API processes, and Redis
Cluster + PostgreSQL: the hot SKU and many drops spread over the shards) it:

1. creates a fresh database and migrates it (``python -m dropline db upgrade``);
2. seeds drops, SKUs, stock, bundles and API keys in-process through the services;
3. starts ``python -m dropline serve`` on 127.0.0.1 with ``DROPLINE_BENCH_ENDPOINTS=1``;
4. runs every scenario with ``wrk`` (warm-up, then a fixed measured time), sampling the
   CPU of the server, Redis, PostgreSQL and wrk from ``/proc``;
5. checks correctness after each scenario (no oversell, engine counts reconcile with the
   load generator's wins, the ledger verifies, orders == successful checkouts);
6. stops everything it started.

With ``--peer medusa`` it then installs Medusa v2 (pinned, from the npm registry) into a
scratch folder and drives it through full checkout and the last-unit races the same way
(``harness.peers``); the page shows it beside dropline. A peer that cannot be installed
is one line in the output and on the page, and the run carries on with dropline alone.

Results go to ``bench/results.json`` and ``docs/benchmarks.md``. Run it from the
repository root with the project's virtualenv: ``.venv/bin/python bench/run.py --help``.

This file is the command line; the harness itself is the ``harness`` package next to it
(``bench/harness/``, one module per responsibility).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    PLANS,
    SCENARIOS,
    STACKS,
    Bench,
    Load,
    Run,
    Stack,
    ensure_wrk,
    log,
    machine,
    postgres_up,
    render,
    reset_postgres,
)
from harness.peers import PEERS, make_peer, run_peer

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=sorted(PLANS), default="full")
    ap.add_argument(
        "--stacks",
        default="embedded,redis-sqlite,redis-pg,redis-pg-1,redis-cluster",
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
    ap.add_argument(
        "--peer",
        choices=PEERS,
        help="also run this peer (installed into a scratch folder) through full checkout"
        " and the last-unit races, shown beside dropline; skipped with one line when it"
        " cannot be installed",
    )
    ap.add_argument(
        "--peer-workers", type=int, default=1, help="the peer's server processes (default 1)"
    )
    ap.add_argument(
        "--peer-connections",
        type=int,
        default=8,
        help="concurrent buyers of the peer's full-checkout loop (default 8: more only"
        " queue longer on a 2-core machine, and each order must fit the window many times)",
    )
    args = ap.parse_args(argv)
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        bench = Bench(PLANS[saved["mode"]], "wrk", Path("."))
        bench.runs = [Run(**r) for r in saved["runs"]]
        bench.memory = saved["memory"]
        bench.peers = saved.get("peers", [])
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
            wanted = bench.only
            if name == "redis-pg-1":  # only its checkout run (see harness/stacks.py)
                bench.only = {"checkout"} & (wanted or {"checkout"})
            if bench.only != set():
                bench.run_stack(st, only_hot=name == "redis-sqlite")
            bench.only = wanted
        if args.peer:
            peer = make_peer(args.peer, args.peer_workers)
            run_peer(bench, peer, Load(wrk, work, [], ""), args.peer_connections)
    command = "make bench" + {"quick": " QUICK=1", "full": "", "tiny": " (tiny)"}[args.mode]
    if args.peer:
        command += f" PEER={args.peer}"

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
                    "peers": bench.peers,
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
    peer_fails = sum(len(p.get("failures", [])) for p in bench.peers)
    log(
        "all of dropline's correctness checks passed"
        + (f" ({peer_fails} of the peer's failed: see the page)" if peer_fails else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

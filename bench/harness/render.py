"""The report: the line naming the measuring machine, the targets table, and
``docs/benchmarks.md`` rendered from a run's results."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path

from .compare import peer_section, peer_stacks, peer_targets, race_table
from .load import Run
from .measure import BenchCore
from .stacks import STACKS


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

    # Issue 24's targets: 0.5 x the ceiling embedded, 0.4 on Redis + PostgreSQL.
    for st, need in (("embedded", 0.5), ("redis-pg", 0.4)):
        hot = find(runs, st, "hot-sku", "dropline holds")
        ceiling = find(runs, st, "hot-sku", "ceiling")
        ratio(f"[{st}] hot-SKU holds ≥ {need} × ceiling", hot, ceiling, need)
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
    # Issue 24: orders per second (hold + checkout each), and two API processes against one.
    for st, need in (("embedded", 1000), ("redis-pg", 600)):
        co = find(runs, st, "checkout", "orders")
        if co is not None:
            v = co.extra["orders_per_s"]
            out.append(
                (
                    f"[{st}] full checkout ≥ {need:,} orders/s",
                    f"{v:,.0f} orders/s",
                    "met" if v >= need else "NOT met",
                )
            )
    ratio(
        "[redis-pg] checkout with 2 API processes ≥ 1.7 × with 1",
        find(runs, "redis-pg", "checkout", "orders"),
        find(runs, "redis-pg-1", "checkout", "orders"),
        1.7,
        attr="orders_per_s",
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
    return out + peer_targets(runs)


def tries(run: Run) -> str:
    n = int(run.extra.get("attempts", 1))
    return f" (attempt {n})" if n > 1 else ""


def render(bench: BenchCore, command: str, started: str, host: str, notes: str) -> str:
    runs = bench.runs
    lines = [
        "# Benchmarks",
        "",
        "Flash-sale throughput of dropline measured side by side with the ceiling of its",
        "HTTP stack and with a row-lock hold, in one run, on one machine (and, with",
        "`--peer medusa`, beside another commerce stack driven the same way). Produced by",
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
    lines += peer_section(runs, bench.peers)
    labels = {st: STACKS[st].label for st in STACKS} | {
        f"peer-{p['name']}": f"Peer: {p['label']}" for p in bench.peers
    }
    for st in ("embedded", "redis-pg", "redis-sqlite", "redis-cluster", *peer_stacks(runs)):
        rs = [r for r in runs if r.stack == st]
        if not rs:
            continue
        lines += ["", f"## {labels.get(st, st)} (`{st}`)", ""]
        for scen in dict.fromkeys(r.scenario for r in rs):
            if scen == "race":
                lines += ["### race (last units)", ""]
                lines += race_table([x for x in rs if x.scenario == scen])
                lines += ["", "Correctness checks after each race:", ""]
                for r in (x for x in rs if x.scenario == scen):
                    lines += [f"- {r.variant}: `{ch}`" for ch in r.checks]
                lines.append("")
                continue
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
                    f" ({r.extra['orders_per_s']:,.{0 if r.extra['orders_per_s'] >= 10 else 2}f}"
                    " orders/s)"
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

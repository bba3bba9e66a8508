"""The measuring core of a benchmark run: its results, memory readings and failed checks,
which scenarios it runs, recording a check, and measuring one scenario with wrk (warm-up,
a measured run repeated while the hypervisor steals CPU, and alternating slices)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .load import Load, Plan, Run
from .procs import STEAL_ATTEMPTS, STEAL_RETRY, loadavg, log, named
from .servers import Server
from .stacks import Stack


class BenchCore:
    """What every scenario measures with; ``scenarios.Bench`` adds the scenarios."""

    def __init__(self, plan: Plan, wrk: str, work: Path) -> None:
        self.plan = plan
        self.wrk = wrk
        self.work = work
        self.runs: list[Run] = []
        self.failures: list[str] = []
        self.memory: list[dict[str, Any]] = []
        #: the peers asked for: name, label, and "ran" or why they could not be installed
        self.peers: list[dict[str, Any]] = []
        self.pg = True
        self.only: set[str] | None = None

    def want(self, scenario: str) -> bool:
        return self.only is None or scenario in self.only

    def check(self, checks: list[str], ok: bool, what: str) -> None:
        checks.append(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failures.append(what)
            log(f"  CHECK FAILED: {what}")

    def race_checks(self, run: Run, orders: int, units_ordered: int, units: int) -> None:
        """The checks of a last-unit race, alike for dropline and a peer: no unit sold
        twice, every order a buyer was told of is in the store (and no other), and with
        more buyers than units every unit found a buyer."""
        self.check(
            run.checks,
            units_ordered <= units,
            f"race: units in orders {units_ordered} <= units {units}"
            f" (oversold {max(0, units_ordered - units)})",
        )
        self.check(
            run.checks,
            orders == run.ok,
            f"race: orders in the store {orders} == orders the buyers were told of {run.ok}",
        )
        wanted = min(units, int(run.extra["buyers"]))
        self.check(
            run.checks,
            units_ordered >= wanted,
            f"race: every unit sold ({units_ordered} of {units}, {run.extra['buyers']} buyers"
            " wanting one each)",
        )

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

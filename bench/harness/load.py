"""Driving load with wrk: the benchmark plans (durations, connections, sizes), the
record of one measured run, the Lua data files wrk's scripts read, and one wrk run with
the CPU of the watched processes sampled around it."""

from __future__ import annotations

import json
import resource
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .procs import CLK_TCK, proc_ticks, steal_ticks

WRK_DIR = Path(__file__).resolve().parent.parent / "wrk"


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
    #: the last-unit races, as (buyers, units): everyone at once for what is left
    races: list[tuple[int, int]] = field(default_factory=lambda: [(50, 1), (200, 50)])


PLANS = {
    "full": Plan(2, 10, 64, [1, 1_000, 10_000], [0, 100_000, 1_000_000], 2_000, 20_000, []),
    "quick": Plan(1, 3, 64, [1, 1_000], [0, 100_000], 1_000, 5_000, [], [0, 10_000]),
    "tiny": Plan(0, 1, 4, [1, 10], [0, 1_000], 50, 200, [], races=[(8, 1), (12, 4)]),
}


def hold_body(item: dict[str, Any]) -> str:
    return json.dumps({"items": [item]}, separators=(",", ":"))


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
        #: wrk's per-request timeout (a slower peer gets a longer one)
        self.timeout = "10s"

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
            self.timeout,
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

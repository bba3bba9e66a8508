"""The benchmark's scenarios: ``Bench.run_stack`` prepares one stack (fresh database,
migrations, seed, server) and runs the selected scenarios against it, one method each
(ceiling, hot SKU, sold-out storm, bundles, full checkout, row-lock baseline, growth),
each followed by its correctness checks."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from .checks import quiesce, settle, stable, within
from .load import Load, Run, hold_body
from .measure import BenchCore
from .procs import log, proc_rss
from .race import Client, race, race_run
from .seeding import (
    BIG,
    Seeded,
    buyer_tokens,
    db_orders,
    rowlock_counts,
    seed,
    setup_rowlock,
)
from .servers import Server, http
from .stacks import REDIS_URL, SPREAD_DROPS, Stack, env_for, reset_postgres, reset_redis

SCENARIOS = (
    "ceiling",
    "row-lock",
    "hot",
    "sold-out",
    "bundles",
    "checkout",
    "race",
    "growth",
    "spread",
)


@dataclass
class Scene:
    """One stack's running server, the load generator and the data seeded for it."""

    stack: Stack
    server: Server
    load: Load
    sd: Seeded

    @property
    def base(self) -> str:
        return self.server.base

    @property
    def key(self) -> str:
        return self.sd.storefront_key

    @property
    def tokens(self) -> list[str]:
        return self.load.tokens

    @property
    def hot(self) -> str:
        """The hold body of one unit of the hot SKU."""
        return hold_body({"sku_id": self.sd.hot_sku, "quantity": 1})

    def counts(self, drop_id: str) -> dict[str, dict[str, int]]:
        """The engine's remaining and held units per SKU of a drop, once stable."""
        base = self.base
        out: dict[str, dict[str, int]] = stable(
            lambda: http("GET", f"{base}/bench/counts/{drop_id}")
        )
        return out


class Bench(BenchCore):
    """A benchmark run: every stack it is given, every scenario it wants."""

    def run_stack(self, stack: Stack, only_hot: bool = False) -> None:
        plan = self.plan
        log(f"stack {stack.name}: {stack.label}")
        env = env_for(stack)
        if stack.database_url.startswith("postgresql"):
            asyncio.run(reset_postgres())
        if stack.engine_url.startswith("redis"):
            asyncio.run(reset_redis(stack.engine_url))
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
        cluster = stack.engine_url.startswith("redis+cluster")
        seeded = asyncio.run(
            seed(
                stack,
                [] if only_hot or cluster else plan.growth_skus,
                plan.storm_units,
                SPREAD_DROPS if cluster else 0,
                [] if only_hot or cluster or not self.want("race") else plan.races,
            )
        )
        log(f"  seeded in {time.monotonic() - t0:.1f}s")
        tokens = buyer_tokens(f"bench-{stack.name}", plan.tokens)
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
                asyncio.run(reset_redis(stack.engine_url))  # leave Redis as it was found

    def _scenarios(
        self, stack: Stack, server: Server, load: Load, sd: Seeded, only_hot: bool
    ) -> None:
        """The wanted scenarios, in this order: the row-lock baseline after checkout and
        growth last (see their docstrings); numbered in the order of ``SCENARIOS``."""
        sc = Scene(stack, server, load, sd)
        hot_cfg = {
            "paths": [f"/v1/drops/{sd.hot_drop}/holds"],
            "bodies": [sc.hot],
            "tokens": sc.tokens,
            "key": sc.key,
        }
        if not only_hot and self.want("ceiling"):
            self._ceiling(sc)
        hot: tuple[Run, dict[str, Any]] | None = None
        if self.want("hot"):
            hot = (self._hot(sc, hot_cfg), hot_cfg)
        if only_hot:
            return
        if hot is not None:
            self._verify(sc, hot[0].checks, "hot")
        if sd.spread:  # the cluster stack: many drops over the shards, then done
            if self.want("spread"):
                self._spread(sc)
            return
        if self.want("sold-out"):
            self._sold_out(sc, hot)
        if self.want("bundles"):
            self._bundles(sc)
        if self.want("checkout"):
            self._checkout(sc)
        if self.want("race"):
            for buyers, units, drop_id, sku in sd.race:
                self._race(sc, buyers, units, drop_id, sku)
        if self.pg and self.want("row-lock"):
            self._row_lock(sc)
        if self.want("growth"):
            self._growth(sc)

    def _verify(self, sc: Scene, checks: list[str], what: str) -> None:
        ops = {"Authorization": f"Bearer {sc.sd.ops_key}"}
        v = http("GET", f"{sc.base}/v1/stock/verify", headers=ops)
        self.check(checks, bool(v["consistent"]), f"{what}: GET /v1/stock/verify consistent")

    def _ceiling(self, sc: Scene) -> None:
        """1. The ceiling of the HTTP stack."""
        self.measure(
            sc.stack,
            sc.server,
            sc.load,
            "hot-sku",
            "ceiling",
            {"paths": ["/bench/ceiling"], "bodies": [sc.hot], "tokens": sc.tokens, "key": sc.key},
        )
        # the same endpoint through the full FastAPI route stack, for scale
        self.measure(
            sc.stack,
            sc.server,
            sc.load,
            "hot-sku",
            "ceiling (FastAPI route)",
            {"paths": ["/bench/ceiling-fastapi"], "bodies": [sc.hot]},
        )

    def _hot(self, sc: Scene, hot_cfg: dict[str, Any]) -> Run:
        """3. Hot SKU holds."""
        sd = sc.sd
        run, total, _ = self.measure(
            sc.stack, sc.server, sc.load, "hot-sku", "dropline holds", hot_cfg
        )
        c = sc.counts(sd.hot_drop)[sd.hot_sku]
        self.check(
            run.checks,
            within(c["held"], total, run) and c["remaining"] + c["held"] == BIG,
            f"hot: remaining {c['remaining']} + held {c['held']} == offered {BIG}; "
            f"wins {total} <= held <= wins + {run.extra['inflight']}",
        )
        return run

    def _spread(self, sc: Scene) -> None:
        """8. Many drops at once (cluster stack): every request goes to another drop,
        so the load spreads over the masters that serve their slots."""
        sd = sc.sd
        cfg = {
            "paths": [f"/v1/drops/{d}/holds" for d, _ in sd.spread],
            "bodies": [hold_body({"sku_id": s, "quantity": 1}) for _, s in sd.spread],
            "tokens": sc.tokens,
            "key": sc.key,
        }
        run, total, _ = self.measure(
            sc.stack, sc.server, sc.load, "spread", f"{len(sd.spread)} drops", cfg
        )
        held = 0
        for d, s in sd.spread:
            c = sc.counts(d)[s]
            held += c["held"]
            self.check(
                run.checks,
                c["remaining"] + c["held"] == BIG,
                f"spread {d}: remaining {c['remaining']} + held {c['held']} == offered {BIG}",
            )
        self.check(
            run.checks,
            within(held, total, run),
            f"spread: wins {total} <= held {held} <= wins + {run.extra['inflight']}",
        )
        self._verify(sc, run.checks, "spread")

    def _sold_out(self, sc: Scene, hot: tuple[Run, dict[str, Any]] | None) -> None:
        """4. Sold-out storm: the warm-up sells the units out, the measured run is
        refusals. With the hot-SKU run (``hot``), both are measured again alternately."""
        sd, load = sc.sd, sc.load
        storm = hold_body({"sku_id": sd.storm_sku, "quantity": 1})
        storm_cfg = {
            "paths": [f"/v1/drops/{sd.storm_drop}/holds"],
            "bodies": [storm],
            "tokens": sc.tokens,
            "key": sc.key,
            "conflict_mark": '"code":"sold_out"',
        }
        sellout_wins, sellout_runs, t0 = 0, 0, time.monotonic()
        while sc.counts(sd.storm_drop)[sd.storm_sku]["remaining"] > 0:
            if time.monotonic() - t0 > 300:
                raise RuntimeError("the sold-out SKU did not sell out in 5 minutes")
            res0, _ = load.run(sc.base, "post.lua", storm_cfg, 1, self.plan.connections, 2, {})
            sellout_wins += res0["ok"]
            sellout_runs += 1
        log(f"  sold {sd.storm_units} units out in {time.monotonic() - t0:.1f}s")
        run, total, res = self.measure(
            sc.stack,
            sc.server,
            load,
            "sold-out",
            "dropline holds",
            storm_cfg,
        )
        total += sellout_wins
        run.extra["inflight"] += sellout_runs * self.plan.connections
        c = sc.counts(sd.storm_drop)[sd.storm_sku]
        self.check(
            run.checks,
            sd.storm_units == c["held"] and c["remaining"] == 0 and within(c["held"], total, run),
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
        if hot is not None:
            self.alternate(load, sc.base, hot, (run, storm_cfg))

    def _bundles(self, sc: Scene) -> None:
        """5. Bundles: the 3-component bundle and its components sold alone."""
        sd = sc.sd
        bodies = [hold_body({"bundle_id": sd.bundle_id, "quantity": 1})] + [
            hold_body({"sku_id": s, "quantity": 1}) for s in sd.bundle_skus
        ]
        bodies = [bodies[0], bodies[1], bodies[0], bodies[2], bodies[0], bodies[3]]
        path = f"/v1/drops/{sd.bundle_drop}/holds"
        run, total, res = self.measure(
            sc.stack,
            sc.server,
            sc.load,
            "bundles",
            "dropline holds",
            {
                "paths": [path],
                "bodies": bodies,
                "tokens": sc.tokens,
                "key": sc.key,
                "mark": sd.bundle_id,
            },
        )
        cs = sc.counts(sd.bundle_drop)
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
        self._verify(sc, run.checks, "bundles")

    def _checkout(self, sc: Scene) -> None:
        """6. Full checkout: hold -> checkout -> sandbox payment -> order."""
        sd = sc.sd
        co_cfg = {
            "hold_path": f"/v1/drops/{sd.checkout_drop}/holds",
            "body": hold_body({"sku_id": sd.checkout_sku, "quantity": 1}),
            "tokens": sc.tokens,
            "key": sc.key,
            "card": "pm_card_visa",
        }
        # 32 connections: 64 concurrent checkouts would need more PostgreSQL
        # connections than a default server (max_connections = 100) shares.
        conns = min(32, self.plan.connections)
        run, total, res = self.measure(
            sc.stack,
            sc.server,
            sc.load,
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
                *asyncio.run(db_orders(sc.stack, sd.checkout_drop)),
                sc.counts(sd.checkout_drop)[sd.checkout_sku],
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
        self._verify(sc, run.checks, "checkout")

    def _race(self, sc: Scene, buyers: int, units: int, drop_id: str, sku: str) -> None:
        """7. Last-unit race: ``buyers`` buyers at once, each hold -> checkout (sandbox
        card), for a SKU with ``units`` units offered (``harness.race``)."""
        tokens = buyer_tokens(f"race-{sc.stack.name}-{drop_id}", buyers)
        hold = hold_body({"sku_id": sku, "quantity": 1})

        def buy(i: int, c: Client) -> bool:
            h = c.post("hold", f"/v1/drops/{drop_id}/holds", json.loads(hold))
            c.post(
                "checkout", "/v1/checkouts", {"hold_id": h["id"], "payment_method": "pm_card_visa"}
            )
            return True

        out = race(
            buyers,
            sc.base,
            lambda i: {"Authorization": f"Bearer {sc.key}", "X-Buyer-Token": tokens[i]},
            buy,
        )
        orders, sold = stable(lambda: asyncio.run(db_orders(sc.stack, drop_id)))
        run = race_run(sc.stack.name, units, out, orders, sold)
        self.runs.append(run)
        log(
            f"  race       {run.variant:<22} orders {orders} for {units} units"
            f" (oversold {run.extra['oversold']}) {out.tally}"
        )
        self.race_checks(run, orders, sold, units)
        c = sc.counts(drop_id)[sku]
        self.check(
            run.checks,
            c["remaining"] + c["held"] + sold == units,
            f"race: remaining {c['remaining']} + held {c['held']} + sold {sold} == offered {units}",
        )
        self._verify(sc, run.checks, f"race {run.variant}")

    def _row_lock(self, sc: Scene) -> None:
        """2. The row-lock baseline (after checkout: its connection pools stay open;
        before growth: not beside a million holds)."""
        rowlock_units = BIG
        asyncio.run(setup_rowlock(rowlock_units))
        run, total, _ = self.measure(
            sc.stack,
            sc.server,
            sc.load,
            "hot-sku",
            "row-lock",
            {
                "paths": ["/bench/rowlock/hot"],
                "bodies": [sc.hot],
                "tokens": sc.tokens,
                "key": sc.key,
            },
        )
        rem, held, rows = stable(lambda: asyncio.run(rowlock_counts()))
        self.check(
            run.checks,
            rem + held == rowlock_units and held == rows and within(rows, total, run),
            f"row-lock: remaining {rem} + held {held} == {rowlock_units}; hold rows "
            f"{rows} == held; wins {total} <= rows <= wins + {run.extra['inflight']}",
        )

    def _growth(self, sc: Scene) -> None:
        """7. Growth: SKUs in the drop, then active holds (seeded last, so every SKU
        count is measured with no other holds in the engine)."""
        asyncio.run(quiesce(sc.stack))
        first_drop, first_ids = sc.sd.growth[self.plan.growth_skus[0]]
        first_wins = 0
        for n, (drop_id, ids) in sc.sd.growth.items():
            run, total, _ = self.measure(
                sc.stack,
                sc.server,
                sc.load,
                "growth",
                f"{n} SKUs, 0 holds",
                {
                    "paths": [f"/v1/drops/{drop_id}/holds"],
                    "bodies": [hold_body({"sku_id": s, "quantity": 1}) for s in ids],
                    "tokens": sc.tokens,
                    "key": sc.key,
                },
                connections=16,
            )
            held = sum(v["held"] for v in sc.counts(drop_id).values())
            self.check(
                run.checks,
                within(held, total, run),
                f"growth {n} SKUs: wins {total} <= engine held {held} <= wins + in flight",
            )
            if n == self.plan.growth_skus[0]:
                first_wins = total
        self._active_holds(sc.stack, sc.server, sc.load, first_drop, first_ids[0], first_wins)

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

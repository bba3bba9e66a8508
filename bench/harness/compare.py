"""dropline beside a peer on the benchmark page: the comparison's numbers (orders per
second and their ratio, oversold units side by side), its target rows, and the tables
of the last-unit races. Pure functions of the runs: ``tests/e2e/test_bench_smoke.py``
checks them on made-up runs."""

from __future__ import annotations

from typing import Any

from .load import Run

#: dropline's stacks that run full checkout and the races, in the order shown
DROPLINE = ("embedded", "redis-pg")
#: dropline ≥ this × the peer's orders per second (issue 24)
PEER_RATIO = 300


def peer_stacks(runs: list[Run]) -> list[str]:
    """The peers' stack names in the runs (``peer-medusa``), in order of appearance."""
    return list(dict.fromkeys(r.stack for r in runs if r.stack.startswith("peer-")))


def checkout_run(runs: list[Run], stack: str) -> Run | None:
    return next((r for r in runs if r.stack == stack and r.scenario == "checkout"), None)


def orders_per_s(run: Run | None) -> float | None:
    if run is None or "orders_per_s" not in run.extra:
        return None
    return float(run.extra["orders_per_s"])


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``; None when either is missing, infinite when the peer made no orders."""
    if a is None or b is None:
        return None
    return a / b if b else float("inf")


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "–"
    if r == float("inf"):
        return "∞ (the peer completed no order)"
    return f"{r:,.0f} ×" if r >= 10 else f"{r:.2f} ×"


def races(runs: list[Run], stack: str) -> dict[str, Run]:
    """The race runs of a stack by variant (``"50 buyers, 1 unit"``)."""
    return {r.variant: r for r in runs if r.stack == stack and r.scenario == "race"}


def passed(run: Run) -> bool:
    return all(c.startswith("ok ") for c in run.checks)


def peer_targets(runs: list[Run]) -> list[tuple[str, str, str]]:
    """The issue's peer targets, one row per dropline stack and peer: dropline's
    checkout orders per second ≥ 300 × the peer's, and oversold units of the races side
    by side (met when dropline's are all 0)."""
    out: list[tuple[str, str, str]] = []
    for peer in peer_stacks(runs):
        p = orders_per_s(checkout_run(runs, peer))
        for st in DROPLINE:
            d = orders_per_s(checkout_run(runs, st))
            r = ratio(d, p)
            if r is None or d is None or p is None:
                continue
            out.append(
                (
                    f"[{st}] checkout ≥ {PEER_RATIO} × the peer ({peer})",
                    f"{d:,.1f} / {p:,.2f} orders/s = {fmt_ratio(r)}",
                    # no ratio from a peer that completed nothing in the window
                    "not measured" if not p else "met" if r >= PEER_RATIO else "NOT met",
                )
            )
            mine, theirs = races(runs, st), races(runs, peer)
            both = [v for v in mine if v in theirs]
            if both:
                ours = [int(mine[v].extra["oversold"]) for v in both]
                out.append(
                    (
                        f"[{st}] oversold in the races: dropline 0, beside the peer ({peer})",
                        "; ".join(
                            f"{v}: {o} vs {int(theirs[v].extra['oversold'])}"
                            for v, o in zip(both, ours, strict=True)
                        ),
                        "met" if not any(ours) else "NOT met",
                    )
                )
    return out


def peer_section(runs: list[Run], peers: list[dict[str, Any]]) -> list[str]:
    """The page's "dropline beside a peer" section: one line per peer that could not
    run, then the checkout and race tables with dropline's stacks and the peers."""
    if not peers:
        return []
    lines = ["", "## dropline beside a peer", ""]
    for p in peers:
        if p.get("status") != "ran":
            lines.append(
                f"- **{p['name']}** could not run here, so this run is dropline alone:"
                f" {p.get('reason', 'not recorded')}"
            )
        else:
            fails = p.get("failures") or []
            lines.append(
                f"- **{p['name']}**: {p['label']}; "
                + (
                    f"{len(fails)} of its checks failed (findings about the peer, listed"
                    " in its section; they do not fail the run)"
                    if fails
                    else "every check passed"
                )
            )
    ran = peer_stacks(runs)
    if not ran:
        return [*lines, ""]
    shown = [st for st in DROPLINE if checkout_run(runs, st) or races(runs, st)] + ran
    lines += [
        "",
        "Full checkout (the same closed loop with wrk: every connection a buyer buying one"
        " unit after another; latency per request):",
        "",
        "| stack | conns | orders/s | p50 ms | p99 ms | failed steps | dropline / peer |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for st in shown:
        run = checkout_run(runs, st)
        if run is None:
            continue
        cells = [
            fmt_ratio(ratio(orders_per_s(run), orders_per_s(checkout_run(runs, peer))))
            + (f" ({peer})" if len(ran) > 1 else "")
            for peer in ([] if st in ran else ran)
        ]
        lines.append(
            f"| `{st}` | {run.connections} | {orders_per_s(run):,.2f} | {run.p50_ms} |"
            f" {run.p99_ms} | {run.other:,} | {', '.join(cells) or '–'} |"
        )
    variants = list(dict.fromkeys(v for st in shown for v in races(runs, st)))
    if variants:
        lines += [
            "",
            "Last-unit races (every buyer starts at once; orders and units from each store's"
            " own database):",
            "",
            "| race | "
            + " | ".join(f"`{st}` orders / units sold / oversold" for st in shown)
            + " |",
            "|---|" + "--:|" * len(shown),
        ]
        for v in variants:
            cells = []
            for st in shown:
                r = races(runs, st).get(v)
                cells.append(
                    "–"
                    if r is None
                    else f"{r.extra['orders']} / {r.extra['units_ordered']} / "
                    f"**{r.extra['oversold']}**"
                )
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def race_table(rs: list[Run]) -> list[str]:
    """A stack's race runs: the buyers' outcomes, the store's counts and the checks."""
    lines = [
        "| race | orders | units sold | oversold | requests | seconds | p50 ms | p99 ms |"
        " how the attempts ended |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in rs:
        ends = ", ".join(f"{n} {label}" for label, n in r.extra["outcomes"].items())
        lines.append(
            f"| {r.variant} | {r.extra['orders']} | {r.extra['units_ordered']} |"
            f" **{r.extra['oversold']}** | {r.requests:,} | {r.seconds} | {r.p50_ms} |"
            f" {r.p99_ms} | {ends} |"
        )
    return lines

"""A peer in the benchmark run (``bench/run.py --peer medusa``): another commerce stack,
installed from its public registry into a scratch folder, driven through the same two
scenarios as dropline with the same load generators and the same checks, and reported
beside dropline (``harness.compare``).

What a peer implements is :class:`Peer`. When it cannot be installed or set up (no
network, no npm, a failed build, a database it cannot create), :meth:`Peer.install` or
:meth:`Peer.setup` raise :class:`PeerUnavailable` with one line saying why: the run prints
that line, records it in the results (and so on the page), and carries on with dropline
alone. A peer's failed checks are findings about the peer, shown on the page: they never
fail dropline's run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from .checks import within
from .load import Load, Run
from .measure import BenchCore
from .procs import log
from .race import Buyer, race, race_run
from .stacks import Stack


class PeerUnavailable(Exception):
    """The peer cannot run here; ``str(e)`` is the one line the run prints."""


class Peer(Protocol):
    """The protocol of a benchmark peer (see ``harness.medusa`` for one)."""

    #: the name on the command line (``--peer NAME``) and in the results (``peer-NAME``)
    name: str

    @property
    def label(self) -> str:
        """What runs, with its pinned version and how it is set up, for the page."""

    #: the ``Stack`` the CPU readings watch (its database and Redis URLs, processes)
    stack: Stack
    #: ``http://127.0.0.1:PORT`` once started
    base: str

    def install(self) -> None:
        """Install the pinned version into the scratch folder (skipped when it is there)."""

    def setup(self, products: dict[str, int]) -> None:
        """A fresh database, migrated, with one product per entry stocked with that many
        units (``"checkout"``, and ``"race-B-U"`` for each race)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def teardown(self) -> None:
        """Drop what ``setup`` created (the database, the Redis db's keys)."""

    def pids(self) -> list[int]: ...

    def checkout_load(self, product: str) -> tuple[str, dict[str, Any]]:
        """The wrk script (in ``bench/wrk``) and its data for the full-checkout loop."""

    def race_buyer(self, product: str) -> tuple[Callable[[int], dict[str, str]], Buyer]:
        """Headers per buyer and one buyer's whole purchase, for ``harness.race``."""

    def orders(self, product: str) -> tuple[int, int]:
        """(orders, units in them) of a product, from the peer's own database."""

    def stock_checks(self, product: str, units_ordered: int) -> list[tuple[bool, str]]:
        """The peer's own stock records against its orders: (holds?, what) pairs."""


def quiet(fn: Callable[[], tuple[int, int]], gap: float = 3.0, timeout: float = 300) -> Any:
    """``fn()`` once it has not changed for ``gap`` seconds: requests the load generator
    left in flight may take the peer many seconds to finish, and the checks must see
    the orders they still create (``checks.stable``'s 0.3 s is for dropline)."""
    last = fn()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(gap)
        now = fn()
        if now == last:
            return now
        last = now
    return last


def race_product(buyers: int, units: int) -> str:
    return f"race-{buyers}-{units}"


def run_peer(bench: BenchCore, peer: Peer, load: Load, connections: int) -> None:
    """Install, set up and drive ``peer`` through full checkout and the races; its runs
    join ``bench.runs`` (stack ``peer-<name>``), its failed checks stay its own."""
    entry: dict[str, Any] = {"name": peer.name, "label": peer.label}
    bench.peers.append(entry)
    log(f"peer {peer.name}: {peer.label}")
    products = {"checkout": 10_000_000}
    want_races = bench.want("race")
    for buyers, units in bench.plan.races if want_races else []:
        products[race_product(buyers, units)] = units
    try:
        t0 = time.monotonic()
        peer.install()
        peer.setup(products)
        log(f"  peer installed and seeded in {time.monotonic() - t0:.1f}s")
    except Exception as e:  # any failure of the peer leaves dropline's run whole
        why = str(e) if isinstance(e, PeerUnavailable) else f"{type(e).__name__}: {e}"
        entry.update(status="unavailable", reason=why)
        log(f"peer {peer.name} cannot be installed: {why}; carrying on with dropline alone")
        peer.teardown()
        return
    # One order of the peer takes its buyer seconds (five requests, each queued behind
    # the other buyers'; on a busy 2-core machine over 20 s each with 16 buyers): the
    # window must hold several orders per buyer for a rate that means something (at
    # least 60 s after 15 s of warm-up), and a request may wait longer than wrk's usual
    # 10 s before the peer answers it.
    plan = replace(bench.plan, warmup=15, seconds=max(6 * bench.plan.seconds, 60))
    load.timeout = "120s"
    core = BenchCore(plan, bench.wrk, bench.work)
    core.only = bench.only
    try:
        peer.start()
        entry["label"] = peer.label
        if bench.want("checkout"):
            checkout(core, peer, load, connections)
        for buyers, units in bench.plan.races if want_races else []:
            peer_race(core, peer, buyers, units)
        entry["status"] = "ran"
    except Exception as e:  # any failure of the peer leaves dropline's run whole
        why = str(e) if isinstance(e, PeerUnavailable) else f"{type(e).__name__}: {e}"
        entry.update(status="unavailable", reason=f"stopped: {why}")
        log(f"peer {peer.name} stopped: {why}; dropline's results are kept")
    finally:
        peer.stop()
        peer.teardown()
        bench.runs += core.runs
        entry["failures"] = core.failures


def checkout(core: BenchCore, peer: Peer, load: Load, connections: int) -> Run:
    """Full checkout on the peer with wrk, measured like dropline's (warm-up, measured
    run, CPU of the peer's processes, PostgreSQL and Redis)."""
    script, cfg = peer.checkout_load("checkout")
    conns = min(connections, core.plan.connections)
    run, total, res = core.measure(
        peer.stack,
        peer,  # type: ignore[arg-type]  # a Server to measure(): base and pids()
        load,
        "checkout",
        "orders",
        cfg,
        script=script,
        connections=conns,
        threads=conns,
    )
    run.extra["orders_per_s"] = round(res["orders"] / (res["duration_us"] / 1e6), 2)
    log(f"  checkout   orders/s {run.extra['orders_per_s']}")
    core.check(
        run.checks,
        res["orders"] > 0,
        f"checkout: the peer completed {res['orders']} orders in the measured run",
    )
    orders, units = quiet(lambda: peer.orders("checkout"))
    core.check(
        run.checks,
        orders == units and within(orders, total, run),
        f"checkout: orders in the store {orders} == units in them {units}; checkouts wrk saw"
        f" succeed {total} <= orders <= {total} + {run.extra['inflight']}",
    )
    for ok, what in peer.stock_checks("checkout", units):
        core.check(run.checks, ok, f"checkout: {what}")
    return run


def peer_race(core: BenchCore, peer: Peer, buyers: int, units: int) -> Run:
    """The last-unit race on the peer, with the checks dropline's race gets."""
    product = race_product(buyers, units)
    headers, buy = peer.race_buyer(product)
    out = race(buyers, peer.base, headers, buy)
    orders, units_ordered = quiet(lambda: peer.orders(product))
    run = race_run(peer.stack.name, units, out, orders, units_ordered)
    core.runs.append(run)
    log(
        f"  race       {run.variant:<22} orders {orders} for {units} units"
        f" (oversold {run.extra['oversold']}) {out.tally}"
    )
    core.race_checks(run, orders, units_ordered, units)
    for ok, what in peer.stock_checks(product, units_ordered):
        core.check(run.checks, ok, f"race: {what}")
    return run


#: the peers ``--peer`` knows
PEERS = ("medusa",)


def make_peer(name: str, workers: int) -> Peer:
    """The peer called ``name`` (one of :data:`PEERS`), run with ``workers`` processes."""
    if name == "medusa":
        from .medusa import Medusa

        return Medusa(workers)
    raise ValueError(f"unknown peer {name!r}: one of {', '.join(PEERS)}")

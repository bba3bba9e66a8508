"""The last-unit race: ``buyers`` buyers start the whole purchase at the same instant for
a product with only ``units`` units left, and the store's own records then say how many
orders it created for them. Driven the same way for dropline and for a peer: one thread
per buyer, released together by a barrier, each running the store's purchase steps over
real HTTP as fast as it can. Its result is counts, not speed.

``oversold`` is the units the store's orders hold beyond the units it had: any number
above 0 is a broken promise to a buyer (an order that cannot ship).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .load import Run


class Step(Exception):
    """A purchase step the store refused: ends that buyer's attempt, labelled for the
    tally (``"hold 409 sold_out"``, ``"complete 500 Timed-out acquiring lock"``)."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


@dataclass
class Client:
    """One buyer's keep-alive HTTP connection, timing every request it sends."""

    base: str
    headers: dict[str, str]
    latencies: list[float] = field(default_factory=list)
    requests: int = 0

    def __post_init__(self) -> None:
        u = urlsplit(self.base)
        # Long: a buyer that gave up while the store still works on its request would
        # make the store's orders disagree with what the buyers were told.
        self.conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=900)

    def post(self, step: str, path: str, body: Any) -> Any:
        """POST ``body`` as JSON; the decoded answer of a 2xx, else :class:`Step`."""
        t0 = time.perf_counter()
        self.conn.request(
            "POST",
            path,
            json.dumps(body),
            {"Content-Type": "application/json", **self.headers},
        )
        resp = self.conn.getresponse()
        raw = resp.read()
        self.latencies.append(time.perf_counter() - t0)
        self.requests += 1
        if not 200 <= resp.status < 300:
            raise Step(f"{step} {resp.status} {reason(raw)}")
        return json.loads(raw or b"null")

    def close(self) -> None:
        self.conn.close()


def reason(raw: bytes) -> str:
    """The short reason of a refusal: dropline's problem ``code``, a peer's ``message``
    (digits and ids cut, so that equal refusals tally together)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw[:40].decode(errors="replace")
    if not isinstance(doc, dict):
        return ""
    text = str(doc.get("code") or doc.get("message") or doc.get("type") or "")
    words = [w for w in text.split() if not any(ch.isdigit() for ch in w)]
    return " ".join(words)[:60]


#: one buyer's purchase: (buyer index, its client) -> True when it ended in an order
Buyer = Callable[[int, Client], bool]


@dataclass
class RaceOutcome:
    buyers: int
    orders_seen: int
    tally: dict[str, int]
    latencies: list[float]
    requests: int
    seconds: float


def race(
    buyers: int, base: str, headers: Callable[[int], dict[str, str]], buy: Buyer
) -> RaceOutcome:
    """Run ``buy`` for ``buyers`` buyers at once (each on its own connection, opened
    before the barrier) and tally how each attempt ended."""
    barrier = threading.Barrier(buyers + 1)
    tally: Counter[str] = Counter()
    clients = [Client(base, headers(i)) for i in range(buyers)]
    lock = threading.Lock()

    def one(i: int) -> None:
        barrier.wait()
        try:
            label = "ordered" if buy(i, clients[i]) else "no order"
        except Step as e:
            label = e.label
        except (OSError, http.client.HTTPException) as e:
            label = f"connection error {type(e).__name__}"
        with lock:
            tally[label] += 1

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(buyers)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        while t.is_alive():  # in slices: Ctrl-C still stops the run
            t.join(1.0)
    seconds = time.perf_counter() - t0
    for c in clients:
        c.close()
    return RaceOutcome(
        buyers=buyers,
        orders_seen=tally["ordered"],
        tally=dict(tally.most_common()),
        latencies=[x for c in clients for x in c.latencies],
        requests=sum(c.requests for c in clients),
        seconds=seconds,
    )


def oversold(units_ordered: int, units: int) -> int:
    """Units promised in orders beyond the units there were (0 when none)."""
    return max(0, units_ordered - units)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``, 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def race_run(stack: str, units: int, out: RaceOutcome, orders: int, units_ordered: int) -> Run:
    """The record of one race: what the buyers saw and what the store's records hold.
    ``orders``/``units_ordered`` come from the store's database, not from the buyers."""
    conflict = sum(n for label, n in out.tally.items() if " 409 " in f"{label} ")
    other = sum(
        n
        for label, n in out.tally.items()
        if label not in ("ordered", "no order") and " 409 " not in f"{label} "
    )
    return Run(
        scenario="race",
        stack=stack,
        variant=f"{out.buyers} buyers, {units} unit{'s' if units != 1 else ''}",
        connections=out.buyers,
        seconds=round(out.seconds, 2),
        requests=out.requests,
        rps=round(out.requests / out.seconds, 1) if out.seconds else 0.0,
        ok=out.orders_seen,
        conflict=conflict,
        other=other,
        p50_ms=round(percentile(out.latencies, 50) * 1000, 2),
        p99_ms=round(percentile(out.latencies, 99) * 1000, 2),
        cpu={},
        checks=[],
        extra={
            "buyers": out.buyers,
            "units": units,
            "orders": orders,
            "units_ordered": units_ordered,
            "oversold": oversold(units_ordered, units),
            "outcomes": out.tally,
        },
    )

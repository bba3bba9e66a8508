"""The readiness gate's checklist: is a drop ready to go live?

Each item is computed from evidence the services gather (nothing here does I/O) and is
``pass``, ``warn`` or ``block``, with the evidence and what to do. The drop's verdict
is its worst item. Going live with a ``block`` needs an override with a reason.

The windows are the pre-stream routine's: stock counted within 48 hours of going live,
every warehouse endpoint and a dress rehearsal proven within 24 hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

COUNT_WINDOW = timedelta(hours=48)
ENDPOINT_WINDOW = timedelta(hours=24)
REHEARSAL_WINDOW = timedelta(hours=24)
MAX_LISTED = 5  # evidence names at most this many SKUs, then "and N more"


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    BLOCK = "block"


_RANK = {Status.PASS: 0, Status.WARN: 1, Status.BLOCK: 2}


@dataclass(frozen=True)
class Item:
    """One line of the checklist: ``evidence`` says what was found, ``action`` what to
    do about it (empty when it passes)."""

    id: str
    title: str
    status: Status
    evidence: str
    action: str = ""


def verdict(items: Iterable[Item]) -> Status:
    """The worst status of the items (``pass`` for none)."""
    return max((i.status for i in items), key=_RANK.__getitem__, default=Status.PASS)


def blocking(items: Iterable[Item]) -> list[Item]:
    return [i for i in items if i.status is Status.BLOCK]


def _names(values: Sequence[str]) -> str:
    shown = ", ".join(values[:MAX_LISTED])
    more = len(values) - MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _ago(at: datetime, now: datetime) -> str:
    hours = (now - at).total_seconds() / 3600
    return f"{hours:.0f} h ago" if hours >= 1 else f"{max(hours * 60, 0):.0f} min ago"


# --------------------------------------------------------------------------- stock


def priced(prices: Mapping[str, int]) -> Item:
    """Every offered SKU (code → price in minor units) has a price above zero."""
    free = sorted(code for code, amount in prices.items() if amount <= 0)
    title = "Every offered SKU is priced"
    if not prices:
        return Item("priced", title, Status.BLOCK, "the drop offers nothing", "offer SKUs")
    if free:
        return Item(
            "priced", title, Status.BLOCK, f"no price: {_names(free)}", "give these SKUs a price"
        )
    return Item("priced", title, Status.PASS, f"{len(prices)} SKU(s) priced")


@dataclass(frozen=True)
class CountEvidence:
    """One offered SKU's counts: when a session covering it last closed (None: never),
    and how many of its lines wait for a decision or a recount."""

    code: str
    last_closed: datetime | None
    open_variances: int = 0


def counted(evidence: Sequence[CountEvidence], now: datetime) -> list[Item]:
    """Every offered SKU counted in a session closed within 48 h, with no open
    variance (two items: a count can be recent and still have a variance open)."""
    stale = [
        e.code for e in evidence if e.last_closed is None or now - e.last_closed > COUNT_WINDOW
    ]
    if not evidence:
        recent = Item("counted", "Counted within 48 h", Status.PASS, "nothing to count")
    elif stale:
        recent = Item(
            "counted",
            "Counted within 48 h",
            Status.BLOCK,
            f"not counted in a session closed in the last 48 h: {_names(stale)}",
            "open a count of these SKUs (dropline counts open --sku ...), count, close it",
        )
    else:
        oldest = min(e.last_closed for e in evidence if e.last_closed is not None)
        recent = Item(
            "counted",
            "Counted within 48 h",
            Status.PASS,
            f"every offered SKU counted; oldest count closed {_ago(oldest, now)}",
        )
    open_ = [f"{e.code} ({e.open_variances})" for e in evidence if e.open_variances]
    if open_:
        variance = Item(
            "no_open_variance",
            "No open count variance",
            Status.BLOCK,
            f"variances waiting for an approver or a recount: {_names(open_)}",
            "have another person approve or reject them, recount rejected ones",
        )
    else:
        variance = Item(
            "no_open_variance", "No open count variance", Status.PASS, "no variance is waiting"
        )
    return [recent, variance]


@dataclass(frozen=True)
class OfferStock:
    """One offered SKU: units offered and not sold here, units offered and not sold by
    every drop not yet ended (this one included), and the ledger's reserved units."""

    code: str
    unsold: int
    unsold_all_drops: int
    reserved: int


def offers_within_stock(offers: Sequence[OfferStock]) -> Item:
    """No offer promises units the ledger does not hold for it."""
    title = "Offers within sellable stock"
    over = [
        f"{o.code} (offered {o.unsold_all_drops}, reserved {o.reserved})"
        for o in offers
        if o.unsold_all_drops > o.reserved
    ]
    if over:
        return Item(
            "offers_within_stock",
            title,
            Status.BLOCK,
            f"offered above the units held for offers: {_names(over)}",
            "lower the offers or receive the missing units",
        )
    return Item(
        "offers_within_stock",
        title,
        Status.PASS,
        f"{sum(o.unsold for o in offers)} unit(s) offered, all held in stock",
    )


@dataclass(frozen=True)
class Staging:
    """One offered SKU's staging: its bin's code (None: not staged), the units of it
    the bin holds, and the units the drop still offers."""

    code: str
    bin_code: str | None
    in_bin: int
    unsold: int


def staged(rows: Sequence[Staging]) -> Item:
    """Every offered SKU is staged in a bin that holds its offered units (a bin holding
    fewer is a warning: the rest must be found elsewhere while picking)."""
    title = "Staged in a bin"
    missing = [r.code for r in rows if r.bin_code is None]
    short = [
        f"{r.code} in {r.bin_code} ({r.in_bin} of {r.unsold})"
        for r in rows
        if r.bin_code is not None and r.in_bin < r.unsold
    ]
    if missing:
        return Item(
            "staged",
            title,
            Status.BLOCK,
            f"not staged: {_names(missing)}",
            "stage each SKU in a bin (dropline bins stage DROP SKU BIN)",
        )
    if short:
        return Item(
            "staged",
            title,
            Status.WARN,
            f"bin holds fewer than offered: {_names(short)}",
            "move the offered units into the staging bin",
        )
    return Item("staged", title, Status.PASS, f"{len(rows)} SKU(s) staged with their units")


@dataclass(frozen=True)
class LotState:
    code: str  # the SKU's code
    lot: str
    status: str


def qc_passed(lots: Sequence[LotState]) -> Item:
    """Lots of offered SKUs passed QC: a rejected lot waiting for a disposition blocks,
    a lot still in inspection (or rework) warns."""
    title = "Lots of offered stock passed QC"
    rejected = [f"{x.lot} ({x.code})" for x in lots if x.status == "rejected"]
    waiting = [
        f"{x.lot} ({x.code}, {x.status})" for x in lots if x.status in ("quality_control", "rework")
    ]
    if rejected:
        return Item(
            "qc_passed",
            title,
            Status.BLOCK,
            f"rejected lots: {_names(rejected)}",
            "dispose of the rejected lots (rework, return, scrap)",
        )
    if waiting:
        return Item(
            "qc_passed",
            title,
            Status.WARN,
            f"lots not inspected yet: {_names(waiting)}",
            "inspect them; their units are not sellable until they pass",
        )
    if not lots:
        return Item("qc_passed", title, Status.PASS, "no production lots (stock bought in)")
    return Item("qc_passed", title, Status.PASS, f"{len(lots)} lot(s), all passed or closed")


def buffer_set(policies: Mapping[str, tuple[int, int]]) -> Item:
    """Every offered SKU keeps a safety buffer (code → (units, percent))."""
    title = "Buffer stock set"
    none = sorted(code for code, (qty, pct) in policies.items() if qty <= 0 and pct <= 0)
    if none:
        return Item(
            "buffer_set",
            title,
            Status.WARN,
            f"no safety buffer: {_names(none)}",
            "keep 2-5 % back for replacements (PUT /v1/stock/{sku}/safety)",
        )
    return Item("buffer_set", title, Status.PASS, f"{len(policies)} SKU(s) keep a buffer")


# --------------------------------------------------------------------------- real parts


@dataclass(frozen=True)
class EndpointEvidence:
    """A warehouse endpoint subscribed to the hand-off and its latest signed test
    delivery: when, and the status it answered (None: no answer; ``error`` says why)."""

    endpoint_id: str
    url: str
    tested_at: datetime | None = None
    status_code: int | None = None
    error: str = ""


def warehouse_endpoints(endpoints: Sequence[EndpointEvidence], now: datetime) -> Item:
    """Each subscribed warehouse endpoint answered a signed test delivery with 2xx in
    the last 24 h."""
    title = "Warehouse endpoints answer"
    if not endpoints:
        return Item(
            "warehouse_endpoints",
            title,
            Status.WARN,
            "no warehouse endpoint receives order.ready_to_fulfill",
            "add one (POST /v1/webhook-endpoints, warehouse: true) or hand off by CSV",
        )
    bad = []
    for e in endpoints:
        if e.tested_at is None or now - e.tested_at > ENDPOINT_WINDOW:
            bad.append(f"{e.url}: no test delivery in the last 24 h")
        elif e.status_code is None or not 200 <= e.status_code < 300:
            bad.append(f"{e.url}: answered {e.status_code or e.error or 'nothing'}")
    if bad:
        return Item(
            "warehouse_endpoints",
            title,
            Status.BLOCK,
            "; ".join(bad[:MAX_LISTED]),
            "send a test delivery to each (POST /v1/webhook-endpoints/{id}/test) "
            "and fix what fails",
        )
    return Item(
        "warehouse_endpoints",
        title,
        Status.PASS,
        f"{len(endpoints)} endpoint(s) answered 2xx in the last 24 h",
    )


def key_mode(provider: str, api_key: str) -> str:
    """``test``, ``live`` or ``unknown``: what mode a provider's keys are in."""
    if provider == "sandbox":
        return "test"
    if api_key.startswith(("sk_test_", "rk_test_")):
        return "test"
    if api_key.startswith(("sk_live_", "rk_live_")):
        return "live"
    return "unknown"


def payments(provider: str, mode: str, expected: str, error: str) -> Item:
    """The payment provider answers, with keys of the expected mode."""
    title = "Payment provider reachable"
    if error:
        return Item(
            "payments",
            title,
            Status.BLOCK,
            f"{provider} did not answer: {error}",
            "check the provider's keys and network",
        )
    if mode != expected:
        return Item(
            "payments",
            title,
            Status.BLOCK,
            f"{provider} keys are {mode}, the drop expects {expected}",
            "set DROPLINE_PAYMENT_MODE or the provider's keys",
        )
    return Item("payments", title, Status.PASS, f"{provider} answered with {mode} keys")


def returns_policy(policy: str) -> Item:
    title = "Returns policy published"
    if not policy.strip():
        return Item(
            "returns_policy",
            title,
            Status.BLOCK,
            "no returns policy is set",
            "publish one and set DROPLINE_RETURNS_POLICY (its URL or text)",
        )
    return Item("returns_policy", title, Status.PASS, policy.strip()[:120])


def templates(failures: Mapping[str, str]) -> Item:
    """Every buyer message template renders (kind → the error, for those that fail)."""
    title = "Buyer messages render"
    if failures:
        kinds = sorted(failures)
        return Item(
            "message_templates",
            title,
            Status.BLOCK,
            "; ".join(f"{k}: {failures[k]}" for k in kinds[:MAX_LISTED]),
            "fix the templates in dropline/templates/messages",
        )
    return Item("message_templates", title, Status.PASS, "every buyer message renders")


def secrets(dev: Sequence[str], unsafe: Sequence[str]) -> Item:
    """No development secret where the service looks deployed (block); on a laptop
    it is a warning."""
    title = "No development secrets"
    if unsafe:
        return Item(
            "dev_secrets",
            title,
            Status.BLOCK,
            unsafe[0],
            f"set {dev[0] if dev else 'the secret'} (openssl rand -hex 32)",
        )
    if dev:
        return Item(
            "dev_secrets",
            title,
            Status.WARN,
            f"development secret in use: {', '.join(dev)}",
            f"set {dev[0]} before the service faces the internet",
        )
    return Item("dev_secrets", title, Status.PASS, "no development secret in use")


@dataclass(frozen=True)
class RehearsalEvidence:
    id: str
    status: str  # passed | failed | running
    finished_at: datetime | None
    failed_stage: str = ""


def rehearsed(latest: RehearsalEvidence | None, now: datetime) -> Item:
    """A passed dress rehearsal of the drop within 24 h (the latest one counts: a
    failure after a pass blocks until the next pass)."""
    title = "Rehearsed within 24 h"
    action = "run a dress rehearsal (dropline rehearse DROP) and fix what fails"
    if latest is None or latest.finished_at is None:
        return Item("rehearsal", title, Status.BLOCK, "no finished rehearsal", action)
    if latest.status != "passed":
        return Item(
            "rehearsal",
            title,
            Status.BLOCK,
            f"rehearsal {latest.id} failed at {latest.failed_stage or 'a stage'} "
            f"{_ago(latest.finished_at, now)}",
            action,
        )
    if now - latest.finished_at > REHEARSAL_WINDOW:
        return Item(
            "rehearsal",
            title,
            Status.BLOCK,
            f"last rehearsal passed {_ago(latest.finished_at, now)}",
            action,
        )
    return Item(
        "rehearsal",
        title,
        Status.PASS,
        f"rehearsal {latest.id} passed {_ago(latest.finished_at, now)}",
    )


@dataclass(frozen=True)
class LaunchEvidence:
    name: str
    overdue: Sequence[tuple[str, str, str]] = field(default_factory=tuple)  # (name, owner, due)


def launch_timeline(launches: Sequence[LaunchEvidence]) -> Item:
    """The launch timeline (when the drop has one) has no overdue milestone."""
    title = "Launch timeline on time"
    if not launches:
        return Item("launch_timeline", title, Status.PASS, "no launch timeline for this drop")
    late = [f"{n} ({o or 'no owner'}, due {d})" for x in launches for n, o, d in x.overdue]
    if late:
        return Item(
            "launch_timeline",
            title,
            Status.BLOCK,
            f"overdue: {_names(late)}",
            "finish them, record their dates, or re-plan the launch",
        )
    return Item(
        "launch_timeline",
        title,
        Status.PASS,
        f"{', '.join(x.name for x in launches)}: no milestone overdue",
    )

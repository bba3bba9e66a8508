"""Next-drop insight across drops: each figure from one definition.

- *sell-through* of a variant over the chosen drops: units sold ÷ units offered, in
  basis points (rounded down); *sold out in*: the drops where its sold units reached
  its offer; *fastest sell-out*: the shortest time from the drop going live to that.
- *corrected demand* of a variant in a drop: the larger of two estimates of what it
  would have sold with enough stock. The sales rate: its units sold, or, when it sold
  out ``t`` seconds into a selling window of ``W`` seconds (going live → ended, or →
  now while live), its rate carried over the whole window, sold × W ÷ t, rounded half
  up (a variant that sold out at once, t = 0, keeps its units sold). The observed:
  units sold + its unserved demand after sell-out (``domain.insight.funnel``: what
  refused buyers and buyers in the waitlist asked for and did not get, each buyer
  once).
- *corrected size curve*: corrected demand summed per ``size`` attribute over the
  drops (the weights ``size_curve`` of a first-run scenario takes).
- *suggested demand* for a similar next drop: the drops' corrected totals as a
  three-point estimate (worst = lowest, expected = mean rounded half up, best =
  highest); None with fewer than two different totals.
- *cohort* of a drop: the buyers whose first paid order (over every drop) was in it;
  a cohort member *repeats within 90 days* when they paid another order in another
  drop within 90 days of that first order. A cohort is *complete* once 90 days have
  passed since its last member's first order (before, its rate can still grow).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

REPEAT_WINDOW = timedelta(days=90)


@dataclass(frozen=True)
class Purchase:
    buyer_id: str
    drop_id: str
    paid_at: datetime


def ratio_bp(part: int, whole: int) -> int | None:
    return part * 10_000 // whole if whole > 0 else None


def repeat_cohorts(
    purchases: Iterable[Purchase], drop_ids: Iterable[str], now: datetime
) -> list[dict[str, object]]:
    """Per drop (in the order given): cohort size, repeaters within 90 days, rate, and
    whether the cohort is complete."""
    by_buyer: dict[str, list[Purchase]] = {}
    for p in sorted(purchases, key=lambda p: (p.paid_at, p.drop_id)):
        by_buyer.setdefault(p.buyer_id, []).append(p)
    cohort: dict[str, list[tuple[str, bool, datetime]]] = {}
    for buyer, ps in by_buyer.items():
        first = ps[0]
        again = any(
            p.drop_id != first.drop_id
            and first.paid_at < p.paid_at <= first.paid_at + REPEAT_WINDOW
            for p in ps[1:]
        )
        cohort.setdefault(first.drop_id, []).append((buyer, again, first.paid_at))
    out = []
    for d in drop_ids:
        members = cohort.get(d, [])
        repeat = sum(1 for _, again, _ in members if again)
        last = max((at for _, _, at in members), default=None)
        out.append(
            {
                "drop_id": d,
                "cohort": len(members),
                "repeat_90d": repeat,
                "repeat_90d_bp": ratio_bp(repeat, len(members)),
                "complete": last is not None and now >= last + REPEAT_WINDOW,
            }
        )
    return out


@dataclass(frozen=True)
class VariantRow:
    """One variant in one drop, as the drop's report measured it."""

    drop_id: str
    sku_id: str
    label: str
    offered: int
    sold: int
    time_to_sell_out_s: int | None
    size: str | None = None
    window_s: int = 0
    unserved: int = 0


def variant_totals(rows: Iterable[VariantRow]) -> list[dict[str, object]]:
    """Per variant over the drops: drops, offered, sold, sell-through, the drops it
    sold out in, the fastest sell-out (seconds) and its unserved demand, by label."""
    acc: dict[str, list[VariantRow]] = {}
    for r in rows:
        acc.setdefault(r.sku_id, []).append(r)
    out: list[dict[str, object]] = []
    for sku, rs in acc.items():
        offered = sum(r.offered for r in rs)
        sold = sum(r.sold for r in rs)
        times = [r.time_to_sell_out_s for r in rs if r.time_to_sell_out_s is not None]
        out.append(
            {
                "sku_id": sku,
                "label": rs[0].label,
                "drops": len(rs),
                "offered": offered,
                "sold": sold,
                "sell_through_bp": ratio_bp(sold, offered),
                "sold_out_in": [r.drop_id for r in rs if r.time_to_sell_out_s is not None],
                "fastest_sell_out_s": min(times) if times else None,
                "unserved_demand": sum(r.unserved for r in rs),
            }
        )
    return sorted(out, key=lambda a: (str(a["label"]), str(a["sku_id"])))


def corrected_demand(row: VariantRow) -> int:
    """The larger of: units sold carried over the selling window when the variant sold
    out early; units sold plus the demand left unserved after sell-out."""
    observed = row.sold + row.unserved
    t = row.time_to_sell_out_s
    if t is None or t <= 0 or row.window_s <= t:
        return max(row.sold, observed)
    return max((2 * row.sold * row.window_s + t) // (2 * t), observed)


def size_curve(rows: Iterable[VariantRow]) -> dict[str, int]:
    """Corrected demand per size, sizes in first-seen order; variants without one left out."""
    out: dict[str, int] = {}
    for r in rows:
        if r.size:
            out[r.size] = out.get(r.size, 0) + corrected_demand(r)
    return out


def suggested_demand(rows: Iterable[VariantRow]) -> dict[str, int] | None:
    """The three-point demand of a similar next drop from each drop's corrected total."""
    totals: dict[str, int] = {}
    for r in rows:
        totals[r.drop_id] = totals.get(r.drop_id, 0) + corrected_demand(r)
    values = sorted(totals.values())
    if len(values) < 2 or values[0] == values[-1]:
        return None
    n = len(values)
    return {"worst": values[0], "expected": (2 * sum(values) + n) // (2 * n), "best": values[-1]}

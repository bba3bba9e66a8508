"""The report's returns: the *Returned units* reconciliation and the Returns section.

The check compares two sources: the units the ledger's ``return`` movements brought back
for the drop's returns, and the received returns' own lines by disposition. A movement
the returns do not know of, or a return whose movements are missing, shows as a
difference.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dropline.domain.aftersales.returns import DEFECT_REASONS, Disposition, ReturnStatus
from dropline.domain.insight.reconcile import Check, pct
from dropline.store.aftersales.repo import ReturnRecord


def returns_check(drop_returns: Sequence[ReturnRecord], ledger: Mapping[str, int]) -> Check:
    """received (ledger) = restocked + to inspection + scrapped."""
    by_disposition: Counter[str] = Counter()
    for r in drop_returns:
        if r.status in (ReturnStatus.RECEIVED, ReturnStatus.REFUNDED):
            for ln in r.lines:
                by_disposition[str(ln.get("disposition"))] += sum(ln["units"].values())
    return Check(
        "returns",
        "Returned units",
        "units",
        "received (ledger)",
        sum(ledger.values()),
        {
            "restocked": by_disposition[Disposition.RESTOCK.value],
            "to inspection": by_disposition[Disposition.INSPECT.value],
            "scrapped": by_disposition[Disposition.SCRAP.value],
        },
        "all returns",
    )


def returns_summary(
    drop_returns: Sequence[ReturnRecord], units_sold: int, label: Callable[[str], str]
) -> dict[str, Any]:
    """Returns by status; units (received or not, cancelled ones left out) by reason and
    by SKU; the return and defect rates of the units sold; refunded and still to refund."""
    status = Counter(r.status for r in drop_returns)
    reasons: Counter[str] = Counter()
    skus: Counter[str] = Counter()
    live = [r for r in drop_returns if r.status != ReturnStatus.CANCELLED]
    for r in live:
        for ln in r.lines:
            reasons[ln["reason"]] += sum(int(q) for q in ln["units"].values())
            for sku, q in ln["units"].items():
                skus[sku] += int(q)
    units = sum(reasons.values())
    defects = sum(v for k, v in reasons.items() if k in DEFECT_REASONS)
    return {
        "returns": len(live),
        "by_status": {s.value: status[s.value] for s in ReturnStatus},
        "units": units,
        "return_rate_pct": pct(units, units_sold),
        "defect_units": defects,
        "defect_rate_pct": pct(defects, units_sold),
        "refunded": sum(r.refund_amount for r in live if r.status == ReturnStatus.REFUNDED),
        "refund_pending": sum(r.refund_amount for r in live if r.status != ReturnStatus.REFUNDED),
        "by_reason": [
            {"reason": k, "units": v, "defect": k in DEFECT_REASONS}
            for k, v in sorted(reasons.items(), key=lambda x: (-x[1], x[0]))
        ],
        "by_sku": [
            {"sku_id": k, "label": label(k), "units": v}
            for k, v in sorted(skus.items(), key=lambda x: (-x[1], x[0]))
        ],
    }

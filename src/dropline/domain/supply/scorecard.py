"""The supplier scorecard's figures, each from one definition:

- a milestone is *judged* when it has both a planned and an actual date; its *slip* is
  actual minus planned in whole UTC days (negative: early); it is *on time* when the
  slip is 0 or less. Per milestone kind and overall: judged, on time, on-time rate and
  average slip (the mean signed slip, to a tenth of a day).
- *lead-time delta* of a run: its actual lead time (run created → warehouse intake
  actual, whole days) minus the manufacturer's quoted lead time; averaged over runs
  with an actual intake.
- *passed first time*: lots whose first original final inspection that was signed off
  accepted them, over lots with such an inspection.
- rates are in basis points, rounded down; None when nothing could be counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class MilestoneDates:
    kind: str
    planned_at: datetime | None
    actual_at: datetime | None


def ratio_bp(part: int, whole: int) -> int | None:
    return part * 10_000 // whole if whole > 0 else None


def slip_days(planned_at: datetime, actual_at: datetime) -> int:
    """Actual minus planned in whole UTC calendar days (negative: early)."""
    return (actual_at.date() - planned_at.date()).days


def _mean_tenths(values: Sequence[int]) -> float | None:
    if not values:
        return None
    return round(sum(values) / len(values), 1)


def milestone_figures(milestones: Iterable[MilestoneDates]) -> dict[str, dict[str, object]]:
    """Per kind (and ``all``): judged, on_time, on_time_bp, average_slip_days."""
    slips: dict[str, list[int]] = {}
    for m in milestones:
        if m.planned_at is None or m.actual_at is None:
            continue
        d = slip_days(m.planned_at, m.actual_at)
        slips.setdefault(m.kind, []).append(d)
        slips.setdefault("all", []).append(d)
    return {
        kind: {
            "judged": len(v),
            "on_time": sum(1 for d in v if d <= 0),
            "on_time_bp": ratio_bp(sum(1 for d in v if d <= 0), len(v)),
            "average_slip_days": _mean_tenths(v),
        }
        for kind, v in sorted(slips.items())
    }


def lead_time_delta(
    runs: Iterable[tuple[datetime, datetime | None]], quoted_days: int
) -> tuple[int, float | None]:
    """(runs judged, mean of actual lead time − quoted) over runs given as (created_at,
    warehouse intake actual or None)."""
    deltas = [
        (intake.date() - created.date()).days - quoted_days
        for created, intake in runs
        if intake is not None
    ]
    return len(deltas), _mean_tenths(deltas)


def passed_first_time(first_verdicts: Iterable[bool]) -> tuple[int, int]:
    """(passed, judged) from each lot's first signed-off original final verdict."""
    v = list(first_verdicts)
    return sum(1 for x in v if x), len(v)

"""Next-drop insight's pure definitions: the 90-day repeat cohorts and variant totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dropline.domain.insight.lessons import (
    Purchase,
    VariantRow,
    corrected_demand,
    repeat_cohorts,
    size_curve,
    suggested_demand,
    variant_totals,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_repeat_is_another_drop_within_90_days_of_the_first_order() -> None:
    day = timedelta(days=1)
    purchases = [
        Purchase("ann", "d1", T0),
        Purchase("ann", "d1", T0 + day),  # same drop again: not a repeat
        Purchase("bob", "d1", T0),
        Purchase("bob", "d2", T0 + 90 * day),  # exactly 90 days: a repeat
        Purchase("cat", "d1", T0),
        Purchase("cat", "d2", T0 + 91 * day),  # too late
        Purchase("dan", "d2", T0 + 50 * day),
    ]
    got = repeat_cohorts(purchases, ["d1", "d2", "d3"], T0 + 120 * day)
    assert got == [
        {"drop_id": "d1", "cohort": 3, "repeat_90d": 1, "repeat_90d_bp": 3333, "complete": True},
        {"drop_id": "d2", "cohort": 1, "repeat_90d": 0, "repeat_90d_bp": 0, "complete": False},
        {"drop_id": "d3", "cohort": 0, "repeat_90d": 0, "repeat_90d_bp": None, "complete": False},
    ]


def test_variants_add_up_over_drops_and_keep_the_fastest_sell_out() -> None:
    got = variant_totals(
        [
            VariantRow("d1", "s", "Tee M", 10, 10, 600),
            VariantRow("d2", "s", "Tee M", 20, 20, 300),
            VariantRow("d2", "l", "Tee L", 20, 5, None),
        ]
    )
    assert [(v["label"], v["offered"], v["sold"], v["sell_through_bp"]) for v in got] == [
        ("Tee L", 20, 5, 2500),
        ("Tee M", 30, 30, 10_000),
    ]
    assert got[1]["sold_out_in"] == ["d1", "d2"] and got[1]["fastest_sell_out_s"] == 300
    assert got[0]["fastest_sell_out_s"] is None


def test_a_sell_out_carries_its_rate_over_the_window() -> None:
    def row(drop: str, sold: int, t: int | None, window: int, size: str = "M") -> VariantRow:
        return VariantRow(drop, f"{drop}-{size}", size, sold, sold, t, size, window)

    assert corrected_demand(row("d", 10, 600, 3600)) == 60
    assert corrected_demand(row("d", 3, 7, 10)) == 4  # 4.29 rounds to 4
    assert corrected_demand(row("d", 1, 2, 5)) == 3  # 2.5 rounds half up
    assert corrected_demand(row("d", 10, None, 3600)) == 10  # never sold out
    assert corrected_demand(row("d", 10, 0, 3600)) == 10  # sold out at once: no rate
    assert corrected_demand(row("d", 10, 3600, 3600)) == 10  # at the window's end
    rows = [row("d1", 10, 600, 3600), row("d1", 5, None, 3600, "L"), row("d2", 20, None, 60)]
    assert size_curve(rows) == {"M": 80, "L": 5}
    assert suggested_demand(rows) == {"worst": 20, "expected": 43, "best": 65}  # 42.5 → 43
    assert suggested_demand(rows[:2]) is None  # one drop

"""The critical-path method of a launch timeline: both passes, slack, the critical path,
feasibility, cycles, business days, and re-planning around actual dates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dropline.domain.errors import DependencyCycle, InvalidInput
from dropline.domain.planning.schedule import (
    Activity,
    WorkCalendar,
    check_stream_date,
    find_cycle,
    plan,
)
from dropline.domain.planning.template import STANDARD

START = date(2026, 6, 1)  # a Monday

# Heizer & Render, *Operations Management* (Pearson), ch. "Project Management", the
# Milwaukee Paper Manufacturing example: eight activities (weeks) of an air-pollution
# control device, solved there with the forward and backward passes.
MILWAUKEE = [
    Activity("A", 2),
    Activity("B", 3),
    Activity("C", 2, ("A",)),
    Activity("D", 4, ("A", "B")),
    Activity("E", 4, ("C",)),
    Activity("F", 3, ("C",)),
    Activity("G", 5, ("D", "E")),
    Activity("H", 2, ("F", "G")),
]


def test_milwaukee_paper_forward_and_backward_pass_match_the_textbook() -> None:
    """Heizer & Render's Milwaukee Paper example: the project takes 15 (weeks), the
    critical path is A-C-E-G-H, and B, D have 1 of slack and F has 6; each activity's
    ES/EF/LS/LF as in the book's table."""
    p = plan(MILWAUKEE, start=START, stream=START + timedelta(days=15))
    book = {  # ES, EF, LS, LF, slack
        "A": (0, 2, 0, 2, 0),
        "B": (0, 3, 1, 4, 1),
        "C": (2, 4, 2, 4, 0),
        "D": (3, 7, 4, 8, 1),
        "E": (4, 8, 4, 8, 0),
        "F": (4, 7, 10, 13, 6),
        "G": (8, 13, 8, 13, 0),
        "H": (13, 15, 13, 15, 0),
    }
    got = {m.key: (m.es, m.ef, m.ls, m.lf, m.slack_days) for m in p.milestones}
    assert got == book
    assert p.critical_path == ("A", "C", "E", "G", "H")
    assert p.feasible and p.slack_days == 0 and p.shortfall_days == 0
    # Dates: A runs Mon 1 to Tue 2 June; the whole chain is done on day 15 (15 June).
    a = p.get("A")
    assert (a.earliest_start, a.earliest_finish) == (date(2026, 6, 1), date(2026, 6, 2))
    assert p.finish == date(2026, 6, 15) and p.deadline == date(2026, 6, 15)


def test_a_later_stream_gives_every_milestone_the_same_extra_slack() -> None:
    """With the stream 5 days later and a 2-day buffer, every slack grows by 3 and the
    critical path (least slack) is unchanged."""
    p = plan(MILWAUKEE, start=START, stream=START + timedelta(days=20), buffer_days=2)
    assert p.slack_days == 3 and p.feasible
    assert p.get("A").slack_days == 3 and p.get("F").slack_days == 9
    assert p.critical_path == ("A", "C", "E", "G", "H")


def test_a_stream_too_soon_is_infeasible_with_the_shortfall_in_days() -> None:
    p = plan(MILWAUKEE, start=START, stream=START + timedelta(days=14), buffer_days=3)
    assert not p.feasible and p.shortfall_days == 4 and p.slack_days == -4
    assert p.get("A").slack_days == -4  # negative slack on the critical path
    assert p.get("F").slack_days == 2


def test_a_cycle_is_refused_and_named() -> None:
    acts = [Activity("a", 1, ("c",)), Activity("b", 1, ("a",)), Activity("c", 1, ("b",))]
    with pytest.raises(DependencyCycle) as err:
        plan(acts, start=START, stream=START + timedelta(days=30))
    assert err.value.extra["cycle"] == ["a", "b", "c", "a"]
    assert "a → b → c → a" in err.value.detail
    assert find_cycle({"x": ["x"]}) == ["x", "x"]
    assert find_cycle({a.key: a.depends_on for a in MILWAUKEE}) == []


@pytest.mark.parametrize(
    ("acts", "words"),
    [
        ([Activity("a", -1)], "negative duration"),
        ([Activity("a", 1, ("zzz",))], "depends on zzz"),
        ([Activity("a", 1), Activity("a", 2)], "appears twice"),
        ([Activity("", 1)], "key"),
    ],
)
def test_bad_timelines_are_refused(acts: list[Activity], words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        plan(acts, start=START, stream=START + timedelta(days=30))
    assert words in err.value.detail


def test_a_stream_date_in_the_past_is_refused() -> None:
    check_stream_date(START, START)
    with pytest.raises(InvalidInput, match="in the past"):
        check_stream_date(START - timedelta(days=1), START)


def test_business_days_skip_weekends_and_holidays() -> None:
    """5 business days from Monday 21 Dec 2026 with Christmas (Fri 25) and New Year's
    Day (Fri 1 Jan) as holidays: 21, 22, 23, 24, 28 → finished Monday 28 December."""
    holidays = frozenset({date(2026, 12, 25), date(2027, 1, 1)})
    cal = WorkCalendar(business_days=True, holidays=holidays)
    start = date(2026, 12, 21)
    p = plan([Activity("x", 5)], start=start, stream=date(2027, 1, 4), calendar=cal)
    x = p.get("x")
    assert (x.earliest_start, x.earliest_finish) == (start, date(2026, 12, 28))
    # Stream Mon 4 Jan: everything due by the working day before (Thu 31 Dec 2026);
    # working days left after the 28th: 29, 30, 31 → 3 days of slack.
    assert p.deadline == date(2026, 12, 31) and x.slack_days == 3 and p.unit == "business"
    calendar_days = plan([Activity("x", 5)], start=start, stream=date(2027, 1, 4))
    assert calendar_days.get("x").earliest_finish == date(2026, 12, 25)


def test_an_actual_date_replans_the_chain_and_overdue_is_flagged() -> None:
    acts = [Activity("a", 5), Activity("b", 5, ("a",)), Activity("c", 5, ("b",))]
    stream = START + timedelta(days=30)
    base = plan(acts, start=START, stream=stream)
    assert base.finish == date(2026, 6, 15)
    # a finished 4 days late: b and c move by 4.
    late = [Activity("a", 5, actual_finish=date(2026, 6, 9)), *acts[1:]]
    moved = plan(late, start=START, stream=stream)
    assert moved.finish == date(2026, 6, 19) and moved.get("a").done
    assert moved.critical_path == ("b", "c")  # a is done: no longer on the path
    # Nothing recorded and it is 12 June: a (due 5 June) is overdue, b waits on it.
    today = date(2026, 6, 12)
    stuck = plan(acts, start=START, stream=stream, as_of=today)
    assert stuck.overdue == ("a",) and stuck.get("a").due == date(2026, 6, 5)
    assert stuck.get("a").earliest_finish == today  # it cannot be done before today
    assert stuck.finish == date(2026, 6, 22)


def test_the_standard_template_has_the_seeds_critical_path() -> None:
    acts = [Activity(s.key, s.duration_days, s.depends_on) for s in STANDARD]
    p = plan(acts, start=START, stream=START + timedelta(days=70), buffer_days=7)
    assert p.critical_path == (
        "design_freeze",
        "sample_approval",
        "production_start",
        "inline_qc",
        "final_qc",
        "freight_arrival",
        "warehouse_intake",
        "count_and_staging",
        "rehearsal",
    )
    assert p.slack_days == 0 and p.get("packaging_proof").slack_days == 4
    assert p.get("freight_booking").slack_days == 13
    assert all(s.owner for s in STANDARD)


@st.composite
def networks(draw: st.DrawFn) -> list[Activity]:
    n = draw(st.integers(1, 8))
    acts = []
    for i in range(n):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        acts.append(
            Activity(f"m{i}", draw(st.integers(0, 20)), tuple(f"m{d}" for d in sorted(deps)))
        )
    return acts


@settings(max_examples=150, deadline=None)
@given(networks(), st.integers(0, 40), st.data())
def test_a_delay_within_a_milestones_slack_never_moves_the_finish(
    acts: list[Activity], extra: int, data: st.DataObject
) -> None:
    """Delaying one milestone by no more than its float (its slack beyond the plan's own
    slack) never moves the plan's finish; by no more than its slack, never past
    ``stream − buffer``."""
    stream = START + timedelta(days=sum(a.duration for a in acts) + extra)
    before = plan(acts, start=START, stream=stream)
    i = data.draw(st.integers(0, len(acts) - 1))
    m = before.get(acts[i].key)
    float_days = m.slack_days - before.slack_days
    assert float_days >= 0
    delay = data.draw(st.integers(0, float_days))
    delayed = [*acts[:i], Activity(acts[i].key, acts[i].duration + delay, acts[i].depends_on)]
    delayed += acts[i + 1 :]
    assert plan(delayed, start=START, stream=stream).finish == before.finish
    into_slack = data.draw(st.integers(0, max(0, m.slack_days)))
    late = [*acts[:i], Activity(acts[i].key, acts[i].duration + into_slack, acts[i].depends_on)]
    late += acts[i + 1 :]
    assert plan(late, start=START, stream=stream).feasible
    # And one day more than the float does move it (when on a finite network).
    over = [*acts[:i], Activity(acts[i].key, acts[i].duration + float_days + 1, acts[i].depends_on)]
    over += acts[i + 1 :]
    assert plan(over, start=START, stream=stream).finish == before.finish + timedelta(days=1)

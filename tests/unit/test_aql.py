"""Acceptance sampling (ANSI/ASQ Z1.4 / ISO 2859-1 single sampling): tables and rules.

Expected values are the published ones (Table I, Tables II-A/B/C), written out here
independently of ``dropline.domain.supply.aql_tables`` so a transcription error in either place
makes a test fail.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from dropline.domain.errors import InvalidInput, InvalidTransition
from dropline.domain.supply.aql import (
    AQLS,
    DefectClass,
    InspectionLevel,
    Severity,
    SwitchingState,
    accepted_one_step_tighter,
    code_letter,
    lot_verdict,
    normalize_aql,
    plan_for_letter,
    sampling_plan,
    verdict,
)

L = InspectionLevel
N, T, R = Severity.NORMAL, Severity.TIGHTENED, Severity.REDUCED
LEVELS = (L.S1, L.S2, L.S3, L.S4, L.I, L.II, L.III)

# ------------------------------------------------------------------ Table I

# (lot range) -> letters for S-1 S-2 S-3 S-4 I II III, as published.
TABLE_I = [
    ((2, 8), "AAAAAAB"),
    ((9, 15), "AAAAABC"),
    ((16, 25), "AABBBCD"),
    ((26, 50), "ABBCCDE"),
    ((51, 90), "BBCCCEF"),
    ((91, 150), "BBCDDFG"),
    ((151, 280), "BCDEEGH"),
    ((281, 500), "BCDEFHJ"),
    ((501, 1200), "CCEFGJK"),
    ((1201, 3200), "CDEGHKL"),
    ((3201, 10000), "CDFGJLM"),
    ((10001, 35000), "CDFHKMN"),
    ((35001, 150000), "DEGJLNP"),
    ((150001, 500000), "DEGJMPQ"),
    ((500001, 10**9), "DEHKNQR"),
]


@pytest.mark.parametrize(("bounds", "letters"), TABLE_I, ids=[f"{b[0]}-{b[1]}" for b, _ in TABLE_I])
def test_code_letters_at_both_ends_of_every_lot_range(
    bounds: tuple[int, int], letters: str
) -> None:
    for lot in bounds:
        got = "".join(code_letter(lot, level) for level in LEVELS)
        assert got == letters, f"lot {lot}"


@pytest.mark.parametrize(
    ("below", "above", "level", "letters"),
    [
        (8, 9, L.II, ("A", "B")),
        (8, 9, L.III, ("B", "C")),
        (15, 16, L.S3, ("A", "B")),
        (50, 51, L.S1, ("A", "B")),
        (150, 151, L.S2, ("B", "C")),
        (500, 501, L.S4, ("E", "F")),
        (1200, 1201, L.I, ("G", "H")),
        (3200, 3201, L.II, ("K", "L")),
        (3200, 3201, L.S3, ("E", "F")),
        (35000, 35001, L.S4, ("H", "J")),
        (500000, 500001, L.II, ("P", "Q")),
        (500000, 500001, L.III, ("Q", "R")),
        (500000, 500001, L.S3, ("G", "H")),
    ],
)
def test_code_letter_changes_exactly_at_the_boundary(
    below: int, above: int, level: InspectionLevel, letters: tuple[str, str]
) -> None:
    assert (code_letter(below, level), code_letter(above, level)) == letters


def test_special_levels_never_exceed_their_last_letter() -> None:
    huge = 10**9
    assert [code_letter(huge, lv) for lv in LEVELS] == ["D", "E", "H", "K", "N", "Q", "R"]


# ------------------------------------------------------------------ Tables II-A/B/C

PLANS = [
    # --- normal, Table II-A: lot 1000 level II is J (n 80), every common AQL
    (1000, L.II, "0.15", N, "J", 80, 0, 1),
    (1000, L.II, "0.65", N, "J", 80, 1, 2),
    (1000, L.II, "1.0", N, "J", 80, 2, 3),
    (1000, L.II, "1.5", N, "J", 80, 3, 4),
    (1000, L.II, "2.5", N, "J", 80, 5, 6),
    (1000, L.II, "4.0", N, "J", 80, 7, 8),
    (1000, L.II, "6.5", N, "J", 80, 10, 11),
    (1000, L.II, "10", N, "J", 80, 14, 15),
    (1000, L.II, "15", N, "J", 80, 21, 22),
    # arrows from J: ↓ to K, ↑ to H
    (1000, L.II, "0.10", N, "J", 125, 0, 1),
    (1000, L.II, "0.40", N, "J", 125, 1, 2),
    (1000, L.II, "0.25", N, "J", 50, 0, 1),
    # lot 50 level II is D (n 8)
    (50, L.II, "0.65", N, "D", 20, 0, 1),  # ↓ ↓ to F
    (50, L.II, "1.5", N, "D", 8, 0, 1),
    (50, L.II, "2.5", N, "D", 5, 0, 1),  # ↑ to C
    (50, L.II, "4.0", N, "D", 13, 1, 2),  # ↓ to E
    (50, L.II, "6.5", N, "D", 8, 1, 2),
    (50, L.II, "10", N, "D", 8, 2, 3),
    (50, L.II, "15", N, "D", 8, 3, 4),
    # larger letters
    (3000, L.II, "1.0", N, "K", 125, 3, 4),
    (3000, L.II, "10", N, "K", 125, 21, 22),
    (3000, L.II, "15", N, "K", 80, 21, 22),  # ↑ to J
    (5000, L.II, "0.65", N, "L", 200, 3, 4),
    (20000, L.II, "0.65", N, "M", 315, 5, 6),
    (100000, L.II, "0.65", N, "N", 500, 7, 8),
    (200000, L.II, "0.65", N, "P", 800, 10, 11),
    (600000, L.II, "0.65", N, "Q", 1250, 14, 15),
    (600000, L.II, "1.0", N, "Q", 1250, 21, 22),
    (600000, L.II, "1.5", N, "Q", 800, 21, 22),  # ↑ to P
    (600000, L.III, "0.65", N, "R", 2000, 21, 22),
    (600000, L.III, "0.025", N, "R", 2000, 1, 2),
    (600000, L.III, "0.010", N, "R", 1250, 0, 1),  # ↑ to Q
    (600000, L.II, "0.010", N, "Q", 1250, 0, 1),
    # small letters with large AQLs (defects per hundred units), including ↑ arrows
    (5, L.II, "6.5", N, "A", 2, 0, 1),
    (5, L.II, "25", N, "A", 2, 1, 2),
    (5, L.II, "100", N, "A", 2, 5, 6),
    (5, L.II, "1000", N, "A", 2, 30, 31),
    (12, L.II, "1000", N, "B", 3, 44, 45),
    (20, L.II, "1000", N, "C", 3, 44, 45),  # ↑ to B
    (100, L.II, "100", N, "F", 13, 21, 22),  # ↑ to E
    (100, L.II, "250", N, "F", 13, 44, 45),  # ↑ to E
    (100, L.II, "65", N, "F", 20, 21, 22),
    # special levels
    (1000, L.S4, "2.5", N, "F", 20, 1, 2),
    (1000, L.S3, "2.5", N, "E", 20, 1, 2),  # ↓ to F
    (1000, L.S2, "2.5", N, "C", 5, 0, 1),
    (1000, L.S1, "2.5", N, "C", 5, 0, 1),
    # --- tightened, Table II-B
    (1000, L.II, "0.65", T, "J", 125, 1, 2),  # ↓ to K
    (1000, L.II, "1.0", T, "J", 80, 1, 2),
    (1000, L.II, "1.5", T, "J", 80, 2, 3),
    (1000, L.II, "2.5", T, "J", 80, 3, 4),
    (1000, L.II, "4.0", T, "J", 80, 5, 6),
    (1000, L.II, "6.5", T, "J", 80, 8, 9),
    (1000, L.II, "10", T, "J", 80, 12, 13),
    (1000, L.II, "15", T, "J", 80, 18, 19),
    (1000, L.II, "0.25", T, "J", 80, 0, 1),
    (150, L.II, "0.65", T, "F", 32, 0, 1),  # ↓ to G
    (150, L.II, "1.0", T, "F", 20, 0, 1),
    (150, L.II, "1.5", T, "F", 50, 1, 2),  # ↓ ↓ to H
    (3000, L.II, "15", T, "K", 80, 18, 19),  # ↑ to J
    (5, L.II, "6.5", T, "A", 3, 0, 1),  # ↓ to B
    (5, L.II, "1000", T, "A", 2, 27, 28),
    (12, L.II, "1000", T, "B", 3, 41, 42),
    # --- reduced, Table II-C (Re may exceed Ac + 1)
    (1000, L.II, "0.15", R, "J", 32, 0, 1),
    (1000, L.II, "0.65", R, "J", 32, 0, 2),
    (1000, L.II, "1.0", R, "J", 32, 1, 3),
    (1000, L.II, "1.5", R, "J", 32, 1, 4),
    (1000, L.II, "2.5", R, "J", 32, 2, 5),
    (1000, L.II, "4.0", R, "J", 32, 3, 6),
    (1000, L.II, "6.5", R, "J", 32, 5, 8),
    (1000, L.II, "10", R, "J", 32, 7, 10),
    (1000, L.II, "15", R, "J", 32, 10, 13),
    (1000, L.II, "0.40", R, "J", 50, 0, 2),  # ↓ to K
    (1000, L.II, "0.25", R, "J", 20, 0, 1),  # ↑ to H
    (3000, L.II, "0.10", R, "K", 50, 0, 1),
    (600000, L.II, "0.65", R, "Q", 500, 7, 10),
]


def _id(case: tuple[object, ...]) -> str:
    lot, level, aql, sev, letter, n, ac, re = case
    return f"{sev}-{lot}-{level}-{aql}->{letter}:{n}:{ac}/{re}"


@pytest.mark.parametrize(
    ("lot", "level", "aql", "severity", "letter", "n", "ac", "re"), PLANS, ids=map(_id, PLANS)
)
def test_sampling_plan_matches_the_published_tables(
    lot: int,
    level: InspectionLevel,
    aql: str,
    severity: Severity,
    letter: str,
    n: int,
    ac: int,
    re: int,
) -> None:
    plan = sampling_plan(lot, level, aql, severity)
    assert (plan.code_letter, plan.sample_size, plan.accept, plan.reject) == (letter, n, ac, re)
    assert plan.hundred_percent is False
    assert plan.severity is severity


def test_arrow_plan_reports_the_row_it_came_from() -> None:
    plan = sampling_plan(50, L.II, "0.65")
    assert (plan.code_letter, plan.plan_letter, plan.sample_size) == ("D", "F", 20)
    up = sampling_plan(50, L.II, "2.5")
    assert (up.code_letter, up.plan_letter, up.sample_size) == ("D", "C", 5)


def test_special_level_s1_with_aql_4_takes_the_plan_above() -> None:
    plan = sampling_plan(1000, L.S1, "4.0")
    assert (plan.plan_letter, plan.sample_size, plan.accept, plan.reject) == ("B", 3, 0, 1)


@pytest.mark.parametrize(
    ("aql", "ac", "re"), [("0.65", 0, 2), ("1.0", 1, 3), ("1.5", 1, 4), ("2.5", 2, 5)]
)
def test_reduced_plans_leave_a_gap_between_ac_and_re(aql: str, ac: int, re: int) -> None:
    plan = sampling_plan(1000, L.II, aql, R)
    assert (plan.accept, plan.reject) == (ac, re)
    assert plan.reject > plan.accept + 1


def test_normal_and_tightened_plans_never_leave_a_gap() -> None:
    for severity in (N, T):
        for aql in AQLS:
            for lot in (2, 9, 100, 1000, 50000, 600000):
                plan = sampling_plan(lot, L.III, aql, severity)
                assert plan.reject == plan.accept + 1, (severity, lot, aql)


# The leftmost cells of the tightened table resolve into row S (n 3150); this edge
# could not be checked against a legible published copy (see aql_tables).
def test_tightened_row_r_arrows_resolve_into_row_s() -> None:
    plan = sampling_plan(600000, L.III, "0.015", T)
    assert (plan.plan_letter, plan.sample_size, plan.accept, plan.reject) == ("S", 3150, 1, 2)
    assert sampling_plan(600000, L.III, "0.010", T).sample_size == 2000


# ------------------------------------------------------------------ structure of the tables

LOTS_FOR_EVERY_LETTER = [low for (low, _high), _ in TABLE_I]


@pytest.mark.parametrize("severity", [N, T, R])
def test_every_cell_resolves_to_a_plan(severity: Severity) -> None:
    for lot in LOTS_FOR_EVERY_LETTER:
        for level in LEVELS:
            for aql in AQLS:
                plan = sampling_plan(lot, level, aql, severity)
                assert 0 <= plan.accept < plan.reject


LETTERS = "ABCDEFGHJKLMNPQR"
SIZES = {
    N: (2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250, 2000),
    T: (2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250, 2000),
    R: (2, 2, 2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800),
}


@pytest.mark.parametrize("severity", [N, T, R])
def test_every_code_letter_has_its_published_sample_size(severity: Severity) -> None:
    sizes = []
    for letter in LETTERS:
        # the AQL column where each letter's own row holds a plan varies; find one
        own = [p for a in AQLS if (p := plan_for_letter(letter, a, severity)).plan_letter == letter]
        assert own, letter
        sizes.append(own[0].sample_size)
    assert tuple(sizes) == SIZES[severity]


@pytest.mark.parametrize("severity", [N, T, R])
def test_plans_grow_down_each_column_and_loosen_along_each_row(severity: Severity) -> None:
    """Transcription guard: a later code letter never gets a smaller sample or a smaller
    Ac or Re for the same AQL (the reduced table's row A is left out: it keeps the normal
    plans, with the same n 2 as rows B and C), and a looser AQL never gets a smaller Ac
    for the same letter."""
    for aql in AQLS:
        column = [plan_for_letter(letter, aql, severity) for letter in LETTERS]
        assert [p.sample_size for p in column] == sorted(p.sample_size for p in column), aql
        checked = column[1:] if severity is R else column
        assert [p.reject for p in checked] == sorted(p.reject for p in checked), aql
        assert [p.accept for p in checked] == sorted(p.accept for p in checked), aql
    for letter in LETTERS:
        row = [plan_for_letter(letter, aql, severity).accept for aql in AQLS]
        assert row == sorted(row), letter


PUBLISHED_PAIRS = {
    N: {
        (0, 1),
        (1, 2),
        (2, 3),
        (3, 4),
        (5, 6),
        (7, 8),
        (10, 11),
        (14, 15),
        (21, 22),
        (30, 31),
        (44, 45),
    },
    T: {(0, 1), (1, 2), (2, 3), (3, 4), (5, 6), (8, 9), (12, 13), (18, 19), (27, 28), (41, 42)},
    R: {
        (0, 1),
        (0, 2),
        (1, 3),
        (1, 4),
        (2, 5),
        (3, 6),
        (5, 8),
        (7, 10),
        (10, 13),
        (14, 17),
        (21, 24),
    },
}


@pytest.mark.parametrize("severity", [N, T, R])
def test_every_plan_is_one_of_the_published_ac_re_pairs(severity: Severity) -> None:
    allowed = set(PUBLISHED_PAIRS[severity])
    if severity is R:  # row A (n 2) keeps the normal plans, up to 30/31 at AQL 1000
        allowed |= PUBLISHED_PAIRS[N] - {(44, 45)}
    used = {
        (p.accept, p.reject)
        for letter in LETTERS
        for aql in AQLS
        for p in [plan_for_letter(letter, aql, severity)]
    }
    assert used == allowed


@pytest.mark.parametrize("severity", [N, T, R])
def test_tables_are_diagonal(severity: Severity) -> None:
    """One row down and one AQL column tighter holds the same plan (the tables' layout),
    wherever both cells hold a plan of their own row."""
    first = 1 if severity is R else 0  # reduced row A keeps the normal plans
    compared = 0
    for i in range(first, len(LETTERS) - 1):
        for j in range(1, len(AQLS)):
            here = plan_for_letter(LETTERS[i], AQLS[j], severity)
            there = plan_for_letter(LETTERS[i + 1], AQLS[j - 1], severity)
            if here.plan_letter == LETTERS[i] and there.plan_letter == LETTERS[i + 1]:
                assert (here.accept, here.reject) == (there.accept, there.reject), (i, j)
                compared += 1
    assert compared > 100


def test_tightened_is_never_looser_than_normal_nor_reduced_stricter() -> None:
    for letter in LETTERS:
        for aql in AQLS:
            normal = plan_for_letter(letter, aql, N)
            tight = plan_for_letter(letter, aql, T)
            reduced = plan_for_letter(letter, aql, R)
            # tightened: same or larger sample, or the same sample with a smaller Ac
            assert tight.sample_size > normal.sample_size or tight.accept <= normal.accept
            assert reduced.sample_size <= normal.sample_size, (letter, aql)


def test_unknown_code_letter_is_refused() -> None:
    with pytest.raises(InvalidInput):
        plan_for_letter("I", "1.0")
    with pytest.raises(InvalidInput):
        plan_for_letter("S", "1.0", N)


# ------------------------------------------------------------------ 100 % inspection


def test_sample_at_least_the_lot_means_hundred_percent_inspection() -> None:
    plan = sampling_plan(5, L.II, "0.65")  # A, ↓ to F: n 20 > 5
    assert plan.hundred_percent is True
    assert plan.sample_size == 5
    assert (plan.plan_letter, plan.accept, plan.reject) == ("F", 0, 1)


def test_sample_equal_to_the_lot_is_hundred_percent() -> None:
    plan = sampling_plan(2, L.II, "6.5")  # A: n 2 == lot 2
    assert (plan.hundred_percent, plan.sample_size) == (True, 2)


def test_sample_smaller_than_the_lot_is_not_hundred_percent() -> None:
    plan = sampling_plan(3, L.II, "6.5")
    assert (plan.hundred_percent, plan.sample_size) == (False, 2)


def test_hundred_percent_keeps_the_plans_ac_re() -> None:
    plan = sampling_plan(10, L.II, "0.010")  # B ↓ ... Q: n 1250 against a lot of 10
    assert (plan.sample_size, plan.accept, plan.reject, plan.hundred_percent) == (10, 0, 1, True)
    assert verdict(plan, 0).accepted
    assert not verdict(plan, 1).accepted


# ------------------------------------------------------------------ invalid input


@pytest.mark.parametrize("lot", [1, 0, -5])
def test_lot_smaller_than_two_is_not_in_table_one(lot: int) -> None:
    with pytest.raises(InvalidInput):
        code_letter(lot, L.II)


@pytest.mark.parametrize("lot", [0, -5])
def test_an_empty_lot_has_no_plan(lot: int) -> None:
    with pytest.raises(InvalidInput):
        sampling_plan(lot, L.II, "1.0")


@pytest.mark.parametrize("lot", ["100", 2.5, True, None])
def test_lot_that_is_not_an_integer_is_refused(lot: object) -> None:
    with pytest.raises(InvalidInput):
        code_letter(lot, L.II)  # type: ignore[arg-type]


@pytest.mark.parametrize("aql", ["0.5", "7", "0", "2000", "abc", "", "NaN", "inf", 3, 0.3, True])
def test_unknown_aql_is_refused(aql: object) -> None:
    with pytest.raises(InvalidInput):
        sampling_plan(1000, L.II, aql)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "label"),
    [("1", "1.0"), ("1.0", "1.0"), (Decimal("1.00"), "1.0"), (1, "1.0"), (0.65, "0.65"),
     ("0.01", "0.010"), (10, "10"), ("1000", "1000"), ("1E+3", "1000"), (2.5, "2.5")],
)  # fmt: skip
def test_aql_spellings_map_to_the_table_label(given: object, label: str) -> None:
    assert normalize_aql(given) == label  # type: ignore[arg-type]


def test_negative_defect_count_is_refused() -> None:
    plan = sampling_plan(1000, L.II, "2.5")
    with pytest.raises(InvalidInput):
        verdict(plan, -1)


# ------------------------------------------------------------------ verdicts


def test_verdict_accepts_up_to_ac_and_rejects_from_re() -> None:
    plan = sampling_plan(1000, L.II, "2.5")  # 80, 5/6
    assert verdict(plan, 0).accepted
    assert verdict(plan, 5).accepted
    assert not verdict(plan, 6).accepted
    assert not verdict(plan, 80).accepted
    assert not verdict(plan, 5).reinstate_normal


def test_reduced_verdict_in_the_gap_accepts_but_reinstates_normal() -> None:
    plan = sampling_plan(1000, L.II, "2.5", R)  # 32, 2/5
    assert verdict(plan, 2).accepted
    assert not verdict(plan, 2).reinstate_normal
    for d in (3, 4):
        v = verdict(plan, d)
        assert (v.accepted, v.reinstate_normal) == (True, True)
    assert (verdict(plan, 5).accepted, verdict(plan, 5).reinstate_normal) == (False, False)


# ------------------------------------------------------------------ per-class lot verdicts

SPEC = {DefectClass.CRITICAL: "0.10", DefectClass.MAJOR: "2.5", DefectClass.MINOR: "4.0"}


def test_lot_verdict_uses_the_largest_sample_and_each_class_own_plan() -> None:
    result = lot_verdict(1000, L.II, SPEC, {DefectClass.MAJOR: 5, DefectClass.MINOR: 7})
    assert result.accepted
    assert result.sample_size == 125  # critical 0.10: J ↓ K
    by_class = {r.defect_class: r for r in result.classes}
    assert by_class[DefectClass.CRITICAL].plan.sample_size == 125
    assert (by_class[DefectClass.MAJOR].plan.accept, by_class[DefectClass.MAJOR].plan.reject) == (
        5,
        6,
    )
    assert by_class[DefectClass.CRITICAL].defects == 0


@pytest.mark.parametrize(
    "defects",
    [{DefectClass.CRITICAL: 1}, {DefectClass.MAJOR: 6}, {DefectClass.MINOR: 8}],
)
def test_one_class_over_its_limit_rejects_the_lot(defects: dict[DefectClass, int]) -> None:
    result = lot_verdict(1000, L.II, SPEC, defects)
    assert not result.accepted
    rejected = [r.defect_class for r in result.classes if not r.verdict.accepted]
    assert rejected == list(defects)


def test_lot_verdict_reports_reinstate_from_any_class() -> None:
    result = lot_verdict(1000, L.II, SPEC, {DefectClass.MAJOR: 3}, R)
    assert (result.accepted, result.reinstate_normal, result.sample_size) == (True, True, 50)


def test_lot_verdict_refuses_counts_for_classes_without_an_aql() -> None:
    with pytest.raises(InvalidInput):
        lot_verdict(1000, L.II, {DefectClass.MAJOR: "2.5"}, {DefectClass.MINOR: 1})
    with pytest.raises(InvalidInput):
        lot_verdict(1000, L.II, {}, {})
    with pytest.raises(InvalidInput):
        lot_verdict(1000, L.II, SPEC, {DefectClass.MAJOR: -1})


# ------------------------------------------------------------------ switching rules


def _run(state: SwitchingState, results: str, ac: int = 1) -> SwitchingState:
    """Feed lots: 'a' accepted, 'r' not accepted."""
    for ch in results:
        state = state.record(ch == "a", accept_number=ac)
    return state


def test_starts_on_normal_inspection() -> None:
    state = SwitchingState()
    assert (state.severity, state.discontinued, state.switching_score) == (N, False, 0)


@pytest.mark.parametrize("history", ["rr", "rar", "raar", "raaar", "aaaraaar"])
def test_two_rejections_within_five_lots_tighten(history: str) -> None:
    assert _run(SwitchingState(), history).severity is T


@pytest.mark.parametrize("history", ["r", "raaaar", "aaaaraaaar", "ar" + "aaaa" + "r"])
def test_rejections_further_apart_than_five_lots_stay_normal(history: str) -> None:
    assert _run(SwitchingState(), history).severity is N


def test_five_accepted_on_tightened_return_to_normal() -> None:
    state = _run(SwitchingState(), "rr")
    assert _run(state, "aaaa").severity is T
    back = _run(state, "aaaaa")
    assert back.severity is N
    assert back.switching_score == 0


def test_a_rejection_on_tightened_restarts_the_count_of_five() -> None:
    state = _run(SwitchingState(), "rr")
    assert _run(state, "aaaaraaaa").severity is T
    assert _run(state, "aaaaraaaaa").severity is N


def test_five_rejections_on_tightened_discontinue_inspection() -> None:
    state = _run(SwitchingState(), "rr")
    assert _run(state, "rrrr").discontinued is False
    stopped = _run(state, "rarararar")  # cumulative, not necessarily consecutive
    assert stopped.discontinued is True
    with pytest.raises(InvalidTransition):
        stopped.record(True, accept_number=1)


def test_resume_after_corrective_action_restarts_on_tightened() -> None:
    stopped = _run(_run(SwitchingState(), "rr"), "rrrrr")
    resumed = stopped.resume()
    assert (resumed.severity, resumed.discontinued, resumed.tightened_rejects) == (T, False, 0)
    with pytest.raises(InvalidTransition):
        resumed.resume()


def test_switching_score_adds_two_for_accepted_ac_0_or_1_lots() -> None:
    state = _run(SwitchingState(), "a" * 14, ac=1)
    assert state.switching_score == 28
    assert state.severity is N
    state = state.record(True, accept_number=0)
    assert state.switching_score == 30
    assert state.severity is N  # the authority has not approved reduced inspection


def test_switching_score_of_30_with_steady_production_and_approval_reduces() -> None:
    state = _run(SwitchingState(), "a" * 14, ac=0)
    reduced = state.record(True, accept_number=0, authority_approves_reduced=True)
    assert reduced.severity is R
    not_steady = state.record(
        True, accept_number=0, authority_approves_reduced=True, production_steady=False
    )
    assert not_steady.severity is N


def test_switching_score_for_ac_2_or_more_needs_acceptance_one_step_tighter() -> None:
    state = SwitchingState()
    for _ in range(9):
        state = state.record(True, accept_number=5, accepted_one_step_tighter=True)
    assert state.switching_score == 27
    state = state.record(True, accept_number=5, accepted_one_step_tighter=False)
    assert (state.switching_score, state.severity) == (0, N)


def test_switching_score_resets_on_rejection() -> None:
    state = _run(SwitchingState(), "aaaaa", ac=1)
    assert state.switching_score == 10
    assert state.record(False, accept_number=1).switching_score == 0


def test_record_lot_computes_the_score_from_the_plan() -> None:
    plan = sampling_plan(1000, L.II, "2.5")  # J 80, 5/6; one step tighter (1.5) is 3/4
    assert accepted_one_step_tighter(plan, 3)
    assert not accepted_one_step_tighter(plan, 4)
    state = SwitchingState().record_lot(plan, 3)
    assert state.switching_score == 3
    assert state.record_lot(plan, 4).switching_score == 0
    assert state.record_lot(plan, 6).normal_history == (True, False)


def test_record_lot_refuses_a_plan_of_another_severity() -> None:
    with pytest.raises(InvalidInput):
        SwitchingState().record_lot(sampling_plan(1000, L.II, "2.5", T), 0)


def test_normal_inspection_needs_the_acceptance_number() -> None:
    with pytest.raises(InvalidInput):
        SwitchingState().record(True)


def _reduced() -> SwitchingState:
    state = _run(SwitchingState(), "a" * 14, ac=0)
    state = state.record(True, accept_number=0, authority_approves_reduced=True)
    assert state.severity is R
    return state


def test_reduced_stays_reduced_while_lots_are_accepted() -> None:
    state = _reduced()
    for _ in range(10):
        state = state.record(True)
    assert state.severity is R


def test_rejection_on_reduced_returns_to_normal() -> None:
    back = _reduced().record(False)
    assert (back.severity, back.switching_score, back.normal_history) == (N, 0, ())


def test_accepted_with_reinstate_on_reduced_returns_to_normal() -> None:
    plan = sampling_plan(1000, L.II, "2.5", R)  # 32, 2/5
    assert _reduced().record_lot(plan, 2).severity is R
    assert _reduced().record_lot(plan, 3).severity is N


@pytest.mark.parametrize(
    "condition", [{"production_steady": False}, {"other_conditions_warrant_normal": True}]
)
def test_irregular_production_or_other_conditions_on_reduced_return_to_normal(
    condition: dict[str, bool],
) -> None:
    assert _reduced().record(True, **condition).severity is N


def test_levels_and_severities_may_be_given_by_name() -> None:
    plan = sampling_plan(1000, "II", "2.5", "reduced")  # type: ignore[arg-type]
    assert (plan.sample_size, plan.accept, plan.reject) == (32, 2, 5)
    assert code_letter(1000, "S-4") == "F"  # type: ignore[arg-type]


@pytest.mark.parametrize(("level", "severity"), [("IV", "normal"), ("II", "lenient")])
def test_unknown_level_or_severity_is_refused(level: str, severity: str) -> None:
    with pytest.raises(InvalidInput):
        sampling_plan(1000, level, "2.5", severity)  # type: ignore[arg-type]


def test_unknown_defect_class_is_refused() -> None:
    with pytest.raises(InvalidInput):
        lot_verdict(1000, L.II, {"cosmetic": "4.0"}, {})  # type: ignore[dict-item]


def test_a_one_unit_lot_is_inspected_whole() -> None:
    """Table I starts at 2; a lot of one unit takes the smallest row's plan, so its one
    unit is the sample (found by the lifecycle model: such a lot could never pass)."""
    from dropline.domain.supply.aql import InspectionLevel, sampling_plan

    plan = sampling_plan(1, InspectionLevel.II, "1.0")
    assert plan.sample_size == 1 and plan.hundred_percent

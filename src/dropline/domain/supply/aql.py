"""Acceptance sampling by attributes: ANSI/ASQ Z1.4 / ISO 2859-1 single sampling.

Quality control gates stock: no unit of a lot may be sold until the lot passes final
inspection. This module says how many units of a lot to inspect and how many
nonconformities the lot may show and still be accepted, and it keeps the switching
state (normal / tightened / reduced / discontinued) across successive lots.

Pure domain: standard library only, no I/O. The tables live in ``aql_tables``.

Choosing a plan (ISO 2859-1 clause 10)::

    lot size + inspection level --Table I--> code letter
    code letter + AQL + severity --Table II-A/B/C--> (sample size, Ac, Re) or an arrow

An arrow is followed in its direction to the first cell that holds a plan, and *that*
plan is used whole: its row's sample size with its Ac/Re (the standard's footnote "use
the first sampling plan below/above the arrow"). When the resulting sample size is equal
to or larger than the lot, the whole lot is inspected (same footnote: "do 100 percent
inspection").

AQLs are keyed exactly: pass a string such as ``"0.65"`` or ``"1.0"`` (preferred), a
``Decimal`` or an ``int``. A ``float`` is accepted only through its shortest decimal
representation (``repr``), so ``0.65`` means ``Decimal("0.65")``; no float is ever
compared for equality.

One idea: ISO 2859-1 single sampling with its switching rules; the tables are in
``aql_tables``, and splitting the plan choice from the switching would split one clause.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

from dropline.domain.errors import InvalidInput, InvalidTransition
from dropline.domain.supply.aql_tables import (
    AQL_LABELS,
    CODE_LETTERS,
    NORMAL_ROWS,
    REDUCED_ROWS,
    TIGHTENED_ROWS,
)

MIN_LOT_SIZE = 2

AqlValue = str | Decimal | int | float
_E = TypeVar("_E", bound=StrEnum)


class InspectionLevel(StrEnum):
    """Table I inspection levels: special S-1..S-4 (small samples) and general I, II, III.

    Level II is the default of the standard; I takes about half its sample, III about
    twice. The level never changes when switching severity (ISO 2859-1 clause 10.1).
    """

    S1 = "S-1"
    S2 = "S-2"
    S3 = "S-3"
    S4 = "S-4"
    I = "I"  # noqa: E741 - the standard's own name
    II = "II"
    III = "III"


_LEVEL_COLUMN: dict[InspectionLevel, int] = {level: i for i, level in enumerate(InspectionLevel)}


class Severity(StrEnum):
    """Severity of inspection: which master table applies (II-A, II-B or II-C)."""

    NORMAL = "normal"
    TIGHTENED = "tightened"
    REDUCED = "reduced"


class DefectClass(StrEnum):
    """Classes of nonconformity; each carries its own AQL in a QC spec."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


# ---------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class _Plan:
    """A master-table cell that holds a plan."""

    accept: int
    reject: int


#: A master-table cell: a plan, an arrow (+1 down, -1 up) or None (no entry).
_Cell = _Plan | int | None


@dataclass(frozen=True)
class _Table:
    letters: tuple[str, ...]
    sizes: tuple[int, ...]
    cells: tuple[tuple[_Cell, ...], ...]


def _parse_cell(token: str) -> _Cell:
    if token == "↓":
        return 1
    if token == "↑":
        return -1
    if token == "-":
        return None
    accept, reject = token.split("/")
    return _Plan(int(accept), int(reject))


def _build(rows: Mapping[str, tuple[int, str]]) -> _Table:
    letters = tuple(rows)
    cells: list[tuple[_Cell, ...]] = []
    for letter in letters:
        tokens = rows[letter][1].split()
        if len(tokens) != len(AQL_LABELS):  # pragma: no cover - guards the transcription
            raise ValueError(f"row {letter} has {len(tokens)} cells")
        cells.append(tuple(_parse_cell(t) for t in tokens))
    return _Table(letters, tuple(rows[x][0] for x in letters), tuple(cells))


_TABLES: dict[Severity, _Table] = {
    Severity.NORMAL: _build(NORMAL_ROWS),
    Severity.TIGHTENED: _build(TIGHTENED_ROWS),
    Severity.REDUCED: _build(REDUCED_ROWS),
}

_AQL_INDEX: dict[Decimal, int] = {Decimal(label): i for i, label in enumerate(AQL_LABELS)}

#: The AQL values of the master tables, tightest first, as printed (e.g. "0.65", "1.0").
AQLS: tuple[str, ...] = AQL_LABELS


def normalize_aql(aql: AqlValue) -> str:
    """Return the table label of ``aql`` (``"1"`` -> ``"1.0"``); ``InvalidInput`` if unknown."""
    if isinstance(aql, bool):
        raise InvalidInput(f"not an AQL: {aql!r}", field="aql")
    try:
        value = Decimal(repr(aql)) if isinstance(aql, float) else Decimal(aql)
    except (InvalidOperation, ValueError, TypeError):
        raise InvalidInput(f"not an AQL: {aql!r}", field="aql") from None
    if not value.is_finite() or value not in _AQL_INDEX:
        raise InvalidInput(
            f"AQL {aql!r} is not one of the standard's values {', '.join(AQL_LABELS)}",
            field="aql",
        )
    return AQL_LABELS[_AQL_INDEX[value]]


def _parse(kind: type[_E], value: str, field: str) -> _E:
    """``kind(value)``, with an unknown value reported as ``InvalidInput``."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidInput(f"unknown {field} {value!r}; one of {allowed}", field=field) from None


# ---------------------------------------------------------------------------- Table I


def code_letter(lot_size: int, level: InspectionLevel = InspectionLevel.II) -> str:
    """Table I: the sample size code letter for a lot of ``lot_size`` units at ``level``.

    Raises ``InvalidInput`` for a lot smaller than 2 (the table starts at 2) or a value
    that is not an integer.
    """
    if isinstance(lot_size, bool) or not isinstance(lot_size, int):
        raise InvalidInput(f"lot size must be an integer, got {lot_size!r}", field="lot_size")
    if lot_size < MIN_LOT_SIZE:
        raise InvalidInput(
            f"lot size must be at least {MIN_LOT_SIZE}, got {lot_size}", field="lot_size"
        )
    level = _parse(InspectionLevel, level, "level")
    for _low, high, letters in CODE_LETTERS:
        if high is None or lot_size <= high:
            return letters[_LEVEL_COLUMN[level]]
    raise AssertionError("unreachable: the last range of Table I is open")  # pragma: no cover


# ---------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class SamplingPlan:
    """A single sampling plan, ready to use on one lot.

    - ``code_letter``: the Table I letter for the lot (before any arrow was followed).
    - ``sample_size``: units to inspect. Equals the lot size when ``hundred_percent``.
    - ``accept`` (Ac) / ``reject`` (Re): accept the lot with at most Ac nonconformities in
      the sample, reject it with Re or more. ``reject == accept + 1`` except in the
      reduced table, where the gap means "accept, but reinstate normal inspection".
    - ``hundred_percent``: the plan's sample size was equal to or larger than the lot, so
      the whole lot is inspected. Ac/Re stay those of the plan the table gave: a 100 %
      inspection that finds more than Ac nonconformities still rejects the lot (the
      standard does not give other numbers, and dropping Ac/Re would silently make the
      check stricter or looser than the agreed AQL).
    - ``plan_letter``: the row the plan was taken from after following arrows.
    - ``aql`` / ``severity``: what the plan was chosen for (``aql`` as its table label).
    """

    code_letter: str
    sample_size: int
    accept: int
    reject: int
    hundred_percent: bool
    plan_letter: str
    aql: str
    severity: Severity


def _resolve(table: _Table, row: int, column: int) -> tuple[int, _Plan]:
    """Follow arrows from ``(row, column)`` to the first cell holding a plan."""
    for _ in table.letters:
        cell = table.cells[row][column]
        if isinstance(cell, _Plan):
            return row, cell
        if cell is None:  # pragma: no cover - every reachable cell is checked by the tests
            break
        row += cell
        if not 0 <= row < len(table.letters):  # pragma: no cover - idem
            break
    raise AssertionError(f"no plan reached from column {AQL_LABELS[column]}")  # pragma: no cover


def plan_for_letter(
    letter: str, aql: AqlValue, severity: Severity = Severity.NORMAL
) -> SamplingPlan:
    """The master-table plan for a code letter, AQL and severity, arrows followed.

    No lot is involved, so ``hundred_percent`` is false and ``sample_size`` is the plan's
    own. Letters are A-R (and S, which only the tightened table has). Raises
    ``InvalidInput`` for an unknown letter or AQL.
    """
    label = normalize_aql(aql)
    severity = _parse(Severity, severity, "severity")
    table = _TABLES[severity]
    if letter not in table.letters or table.cells[table.letters.index(letter)][0] is None:
        raise InvalidInput(f"unknown sample size code letter {letter!r}", field="code_letter")
    row, cell = _resolve(table, table.letters.index(letter), _AQL_INDEX[Decimal(label)])
    return SamplingPlan(
        code_letter=letter,
        sample_size=table.sizes[row],
        accept=cell.accept,
        reject=cell.reject,
        hundred_percent=False,
        plan_letter=table.letters[row],
        aql=label,
        severity=severity,
    )


def sampling_plan(
    lot_size: int,
    level: InspectionLevel,
    aql: AqlValue,
    severity: Severity = Severity.NORMAL,
) -> SamplingPlan:
    """Choose the single sampling plan for one lot.

    Table I gives the code letter; the master table of ``severity`` gives the cell at
    (letter, AQL). An arrow is followed to the first cell with a plan, and that plan's
    own sample size, Ac and Re are used. If that sample size is at least the lot size,
    the whole lot is inspected: ``sample_size = lot_size`` and ``hundred_percent`` is
    true, with the plan's Ac/Re kept (see ``SamplingPlan``).

    Table I starts at 2 units; a lot of one unit takes the smallest row's plan and so is
    inspected whole (a one-unit lot could otherwise never pass the gate).

    Raises ``InvalidInput`` for a lot smaller than 1 or an AQL not in the tables.
    """
    table_size = MIN_LOT_SIZE if lot_size == 1 and not isinstance(lot_size, bool) else lot_size
    plan = plan_for_letter(code_letter(table_size, level), aql, severity)
    if plan.sample_size >= lot_size:
        return replace(plan, sample_size=lot_size, hundred_percent=True)
    return plan


# ---------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    """The outcome of one lot against one plan.

    ``reinstate_normal`` is set only by reduced plans whose Re exceeds Ac + 1 when the
    count falls strictly between them: the lot is accepted, but normal inspection must be
    reinstated from the next lot on (Z1.4 switching rules; MIL-STD-105E 4.7.4 b). The
    reduced table used here is Z1.4's; the 1999 revision of ISO 2859-1 closed that gap.
    """

    accepted: bool
    reinstate_normal: bool = False


def _check_defects(defects: int) -> None:
    if isinstance(defects, bool) or not isinstance(defects, int):
        raise InvalidInput(f"defects must be an integer, got {defects!r}", field="defects")
    if defects < 0:
        raise InvalidInput(f"defects cannot be negative, got {defects}", field="defects")


def verdict(plan: SamplingPlan, defects_found: int) -> Verdict:
    """Judge a lot: accept iff ``defects_found <= Ac``, reject iff ``defects_found >= Re``.

    For reduced plans with ``Ac < defects_found < Re`` the lot is accepted with
    ``reinstate_normal=True``. The count may exceed the sample size: AQLs above 10 are
    nonconformities per hundred units, and one unit can carry several. Raises
    ``InvalidInput`` for a negative or non-integer count.
    """
    _check_defects(defects_found)
    if defects_found <= plan.accept:
        return Verdict(accepted=True)
    if defects_found >= plan.reject:
        return Verdict(accepted=False)
    return Verdict(accepted=True, reinstate_normal=True)


def accepted_one_step_tighter(plan: SamplingPlan, defects_found: int) -> bool:
    """Would the lot have been accepted had the AQL been one step tighter?

    Used by the switching score (ISO 2859-1:1999 clause 9.3.3.2 a). The comparison uses
    the sample actually inspected: the acceptance number of the next tighter AQL column
    in the same master-table row the plan came from. For plans with Ac >= 2 (the only
    ones the rule applies to) that cell always holds a plan. Returns ``False`` for the
    tightest AQL, or when the tighter cell is an arrow (no plan for this sample size).
    """
    _check_defects(defects_found)
    column = _AQL_INDEX[Decimal(plan.aql)]
    if column == 0:
        return False
    table = _TABLES[plan.severity]
    cell = table.cells[table.letters.index(plan.plan_letter)][column - 1]
    if not isinstance(cell, _Plan):
        return False
    return defects_found <= cell.accept


# ---------------------------------------------------------------------------- per class


@dataclass(frozen=True)
class ClassResult:
    """One defect class of a lot: its own plan, the count found and its verdict."""

    defect_class: DefectClass
    plan: SamplingPlan
    defects: int
    verdict: Verdict


@dataclass(frozen=True)
class LotVerdict:
    """A lot judged against every defect class of its QC spec.

    - ``accepted``: every class was accepted.
    - ``sample_size``: units to draw, the largest sample any class's plan needs.
    - ``reinstate_normal``: some class was accepted only in a reduced plan's gap.
    - ``classes``: each class with its own plan and verdict.
    """

    accepted: bool
    sample_size: int
    reinstate_normal: bool
    classes: tuple[ClassResult, ...]


def class_plans(
    lot_size: int,
    level: InspectionLevel,
    aqls: Mapping[DefectClass, AqlValue],
    severity: Severity = Severity.NORMAL,
) -> dict[DefectClass, SamplingPlan]:
    """The plan of each defect class (same lot, level and severity, each class's AQL)."""
    if not aqls:
        raise InvalidInput("a QC spec needs at least one defect class with an AQL", field="aqls")
    return {
        _parse(DefectClass, c, "defect class"): sampling_plan(lot_size, level, aql, severity)
        for c, aql in aqls.items()
    }


def lot_verdict(
    lot_size: int,
    level: InspectionLevel,
    aqls: Mapping[DefectClass, AqlValue],
    defects: Mapping[DefectClass, int],
    severity: Severity = Severity.NORMAL,
) -> LotVerdict:
    """Judge a lot against a spec with several defect classes, each with its own AQL.

    Differing sample sizes (an arrow can send one class to a larger sample than another)
    are handled as is standard practice: one sample of the largest size any class needs
    is drawn, and each class is judged against *its own* plan's Ac/Re. ``defects[c]`` is
    the count of class ``c`` found in that class's own sample, i.e. the first
    ``plan.sample_size`` units of the common sample (for the class with the largest plan,
    the whole sample). The lot is accepted only if every class is accepted. A class with
    no entry in ``defects`` counts as 0 found; a count for a class the spec does not
    have is refused (``InvalidInput``), as is a negative count.
    """
    plans = class_plans(lot_size, level, aqls, severity)
    unknown = set(map(str, defects)) - set(map(str, plans))
    if unknown:
        raise InvalidInput(
            f"defects reported for classes without an AQL: {', '.join(sorted(unknown))}",
            field="defects",
        )
    results: list[ClassResult] = []
    for defect_class, plan in plans.items():
        found = defects.get(defect_class, 0)
        results.append(ClassResult(defect_class, plan, found, verdict(plan, found)))
    return LotVerdict(
        accepted=all(r.verdict.accepted for r in results),
        sample_size=max(p.sample_size for p in plans.values()),
        reinstate_normal=any(r.verdict.reinstate_normal for r in results),
        classes=tuple(results),
    )


# ---------------------------------------------------------------------------- switching

#: Consecutive normal lots looked at for the normal -> tightened rule.
NORMAL_WINDOW = 5
#: Not-accepted lots within the window that switch normal -> tightened.
NORMAL_REJECTS_TO_TIGHTEN = 2
#: Consecutive accepted lots on tightened inspection that switch back to normal.
TIGHTENED_ACCEPTS_TO_NORMAL = 5
#: Cumulative not-accepted lots on tightened inspection that discontinue inspection.
TIGHTENED_REJECTS_TO_DISCONTINUE = 5
#: Switching score at which reduced inspection may start.
SWITCHING_SCORE_TO_REDUCE = 30


@dataclass(frozen=True)
class SwitchingState:
    """The switching rules of ISO 2859-1 clause 9 (Z1.4 section 8) as a pure state machine.

    Apply one machine per defect class (the standard applies switching to each class
    independently). Start with ``SwitchingState()`` (normal inspection, clause 9.1) and
    feed every lot *on original inspection* (resubmitted lots are ignored by the rules)
    to ``record``; it returns the state for the next lot. ``severity`` says which master
    table to use next; ``discontinued`` means no lot may be inspected under the scheme.

    Rules, in the order ``record`` applies them:

    - Normal -> tightened (clause 9.3.1): when 2 of 5 or fewer consecutive lots on
      original normal inspection are not accepted.
    - Switching score (clause 9.3.3.2, 1999 revision), kept on normal inspection only,
      starting at 0 at every start of normal inspection:
      a) plan with Ac >= 2: add 3 if the lot would have been accepted had the AQL been
      one step tighter, otherwise reset to 0;
      b) plan with Ac 0 or 1: add 2 if the lot is accepted, otherwise reset to 0.
    - Normal -> reduced (clause 9.3.3.1): when the switching score is at least 30 *and*
      production is at a steady rate *and* the responsible authority approves reduced
      inspection (both modelled as boolean inputs).
    - Tightened -> normal (clause 9.3.2): when 5 consecutive lots on original tightened
      inspection are accepted.
    - Tightened -> discontinued (clause 9.4): when the cumulative number of lots not
      accepted in the sequence of consecutive lots on original tightened inspection
      reaches 5. ``resume()`` (after the supplier's corrective action is accepted by the
      responsible authority) restarts on tightened inspection, "as if 9.3.1 had been
      invoked".
    - Reduced -> normal (clause 9.3.4; MIL-STD-105E 4.7.4): when a lot is not accepted; or a
      reduced lot is accepted with Ac < d < Re (``reinstate_normal``, Z1.4 tables); or
      production becomes irregular or delayed (``production_steady=False``); or other
      conditions warrant it (``other_conditions_warrant_normal=True``).
    """

    severity: Severity = Severity.NORMAL
    discontinued: bool = False
    #: Results (True = accepted) of the last lots on normal inspection, oldest first,
    #: at most ``NORMAL_WINDOW - 1`` kept (the current lot completes the window).
    normal_history: tuple[bool, ...] = ()
    #: Consecutive accepted lots since tightened inspection started or last rejected.
    tightened_accept_run: int = 0
    #: Lots not accepted since this spell of tightened inspection started.
    tightened_rejects: int = 0
    switching_score: int = 0

    def record(
        self,
        lot_accepted: bool,
        *,
        accept_number: int | None = None,
        accepted_one_step_tighter: bool = False,
        reinstate_normal: bool = False,
        production_steady: bool = True,
        authority_approves_reduced: bool = False,
        other_conditions_warrant_normal: bool = False,
    ) -> SwitchingState:
        """Record the result of one lot on original inspection; return the next state.

        ``accept_number`` (the Ac of the plan used) and ``accepted_one_step_tighter``
        feed the switching score and are needed on normal inspection; ``record_lot``
        fills them from a plan. ``reinstate_normal`` is the verdict's flag of the same
        name (reduced inspection only). Raises ``InvalidTransition`` when inspection is
        discontinued and ``InvalidInput`` when normal inspection lacks ``accept_number``.
        """
        if self.discontinued:
            raise InvalidTransition(
                "inspection is discontinued until corrective action; call resume()",
                current="discontinued",
            )
        if self.severity is Severity.NORMAL:
            return self._record_normal(
                lot_accepted,
                accept_number=accept_number,
                accepted_one_step_tighter=accepted_one_step_tighter,
                production_steady=production_steady,
                authority_approves_reduced=authority_approves_reduced,
            )
        if self.severity is Severity.TIGHTENED:
            return self._record_tightened(lot_accepted)
        return self._record_reduced(
            lot_accepted,
            reinstate_normal=reinstate_normal,
            production_steady=production_steady,
            other_conditions_warrant_normal=other_conditions_warrant_normal,
        )

    def record_lot(
        self,
        plan: SamplingPlan,
        defects_found: int,
        *,
        production_steady: bool = True,
        authority_approves_reduced: bool = False,
        other_conditions_warrant_normal: bool = False,
    ) -> SwitchingState:
        """``record`` for a lot judged with ``plan``: derives every input from the plan.

        The plan must be of the severity currently in force (``InvalidInput`` if not).
        """
        if plan.severity is not self.severity:
            raise InvalidInput(
                f"plan is for {plan.severity} inspection but {self.severity} is in force",
                field="plan",
            )
        result = verdict(plan, defects_found)
        return self.record(
            result.accepted,
            accept_number=plan.accept,
            accepted_one_step_tighter=accepted_one_step_tighter(plan, defects_found),
            reinstate_normal=result.reinstate_normal,
            production_steady=production_steady,
            authority_approves_reduced=authority_approves_reduced,
            other_conditions_warrant_normal=other_conditions_warrant_normal,
        )

    def resume(self) -> SwitchingState:
        """Clause 9.4: after corrective action, resume inspection on tightened inspection."""
        if not self.discontinued:
            raise InvalidTransition(
                "only a discontinued inspection can be resumed", current=str(self.severity)
            )
        return SwitchingState(severity=Severity.TIGHTENED)

    def tighten(self) -> SwitchingState:
        """Tightened inspection from the next lot on, forced by a quality alert (field
        defects say more than the sample did); kept as is when already tightened or
        discontinued, so an alert never loosens or resumes anything."""
        if self.discontinued or self.severity is Severity.TIGHTENED:
            return self
        return SwitchingState(severity=Severity.TIGHTENED)

    # -- the three severities

    def _record_normal(
        self,
        lot_accepted: bool,
        *,
        accept_number: int | None,
        accepted_one_step_tighter: bool,
        production_steady: bool,
        authority_approves_reduced: bool,
    ) -> SwitchingState:
        if accept_number is None or accept_number < 0:
            raise InvalidInput(
                "accept_number (the plan's Ac) is needed on normal inspection",
                field="accept_number",
            )
        window = (*self.normal_history, lot_accepted)
        if window.count(False) >= NORMAL_REJECTS_TO_TIGHTEN:  # clause 9.3.1
            return SwitchingState(severity=Severity.TIGHTENED)
        score = _next_score(
            self.switching_score, lot_accepted, accept_number, accepted_one_step_tighter
        )
        if (  # clause 9.3.3.1
            score >= SWITCHING_SCORE_TO_REDUCE and production_steady and authority_approves_reduced
        ):
            return SwitchingState(severity=Severity.REDUCED)
        return replace(self, normal_history=window[-(NORMAL_WINDOW - 1) :], switching_score=score)

    def _record_tightened(self, lot_accepted: bool) -> SwitchingState:
        if lot_accepted:
            run = self.tightened_accept_run + 1
            if run >= TIGHTENED_ACCEPTS_TO_NORMAL:  # clause 9.3.2
                return SwitchingState(severity=Severity.NORMAL)
            return replace(self, tightened_accept_run=run)
        rejects = self.tightened_rejects + 1
        if rejects >= TIGHTENED_REJECTS_TO_DISCONTINUE:  # clause 9.4
            return SwitchingState(
                severity=Severity.TIGHTENED, discontinued=True, tightened_rejects=rejects
            )
        return replace(self, tightened_accept_run=0, tightened_rejects=rejects)

    def _record_reduced(
        self,
        lot_accepted: bool,
        *,
        reinstate_normal: bool,
        production_steady: bool,
        other_conditions_warrant_normal: bool,
    ) -> SwitchingState:
        if (  # clause 9.3.4; MIL-STD-105E 4.7.4 b for the accepted-with-reinstate case
            not lot_accepted
            or reinstate_normal
            or not production_steady
            or other_conditions_warrant_normal
        ):
            return SwitchingState(severity=Severity.NORMAL)
        return self


def _next_score(
    score: int, lot_accepted: bool, accept_number: int, accepted_one_step_tighter: bool
) -> int:
    """Clause 9.3.3.2 for single sampling: the switching score after one normal lot."""
    if not lot_accepted:
        return 0
    if accept_number >= 2:
        return score + 3 if accepted_one_step_tighter else 0
    return score + 2

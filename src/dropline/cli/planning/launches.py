"""``dropline launches``: plan a launch before money is spent: the timeline built
backward from the stream, the scorecard with its stress test, first-run scenarios,
and the calendar file for the owners.

It reads and writes the database directly (``DROPLINE_DATABASE_URL``), like
``dropline returns``; the server does not need to run. Every command prints readable
tables, or JSON with ``--json`` (for ``jq``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from dropline.cli.console import console, emit_json, pairs, run
from dropline.cli.planning import render
from dropline.domain.planning.scorecard import Score, Thresholds, Variable
from dropline.services.planning.first_runs import FirstRunRequest

if TYPE_CHECKING:
    from dropline.bootstrap import Container

launches_app = typer.Typer(
    help="Launch plans: timeline back from the stream, scorecard and stress test, "
    "first-run scenarios, calendar.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


def _date(value: str | None, what: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{what} must be a date like 2027-03-01, got {value!r}") from None


def _show(
    fn: Callable[[Container], Awaitable[Any]], as_json: bool, draw: Callable[[Any], None]
) -> None:
    if as_json:
        emit_json(fn)
        return

    async def go(c: Container) -> None:
        draw(await fn(c))

    run(go)


@launches_app.command("create")
def create(
    name: str,
    stream: Annotated[str, typer.Option(help="stream date, e.g. 2027-03-01")],
    start: Annotated[str | None, typer.Option(help="plan from this date (default today)")] = None,
    buffer: Annotated[int, typer.Option(help="days kept free before the stream")] = 7,
    business_days: Annotated[bool, typer.Option(help="count business days")] = False,
    country: Annotated[str, typer.Option(help="skip this country's holidays (ISO code)")] = "",
    concept: str = "",
    product: Annotated[str | None, typer.Option(help="product id")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="production run id")] = None,
    drop: Annotated[str | None, typer.Option(help="drop id")] = None,
    buffer_units: Annotated[int, typer.Option(help="spare units for replacements")] = 0,
    empty: Annotated[bool, typer.Option(help="start with no milestones")] = False,
    actor: str = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Create a launch with the standard timeline, planned back from the stream."""
    stream_date = _date(stream, "--stream")
    assert stream_date is not None
    start_date = _date(start, "--start")
    _show(
        lambda c: c.launches.create(
            name,
            stream_date=stream_date,
            actor=actor,
            start_date=start_date,
            buffer_days=buffer,
            business_days=business_days,
            country=country,
            concept=concept,
            product_id=product,
            run_id=run_id,
            drop_id=drop,
            buffer_units=buffer_units,
            template="empty" if empty else "standard",
        ),
        as_json,
        render.launch,
    )


@launches_app.command("list")
def list_launches(as_json: JsonOpt = False) -> None:
    """Every launch, soonest stream first."""

    def draw(rows: list[dict[str, Any]]) -> None:
        t = Table(title=f"{len(rows)} launches")
        for col in ("launch", "name", "stream", "plan", "score", "alerts"):
            t.add_column(col)
        for v in rows:
            tl = v["timeline"]
            plan = (
                "—"
                if tl["feasible"] is None
                else (
                    f"{tl['slack_days']} days slack"
                    if tl["feasible"]
                    else f"{tl['shortfall_days']} days short"
                )
            )
            card = v["scorecard"]
            t.add_row(
                v["id"],
                v["name"],
                tl["stream_date"],
                plan,
                f"{card['total']} {card['verdict']}" if card else "—",
                str(len(v["alerts"])),
            )
        console.print(t)

    _show(lambda c: c.launches.launches(), as_json, draw)


@launches_app.command("show")
def show(launch_id: str, as_json: JsonOpt = False) -> None:
    """One launch: verdict, first run, alerts and the timeline."""
    _show(lambda c: c.launches.get(launch_id), as_json, render.launch)


@launches_app.command("update")
def update(
    launch_id: str,
    stream: Annotated[str | None, typer.Option(help="new stream date")] = None,
    start: Annotated[str | None, typer.Option()] = None,
    buffer: Annotated[int | None, typer.Option()] = None,
    business_days: Annotated[bool | None, typer.Option("--business-days/--calendar-days")] = None,
    country: Annotated[str | None, typer.Option()] = None,
    run_id: Annotated[str | None, typer.Option("--run", help='run id ("" unlinks)')] = None,
    product: Annotated[str | None, typer.Option(help='product id ("" unlinks)')] = None,
    drop: Annotated[str | None, typer.Option(help='drop id ("" unlinks)')] = None,
    buffer_units: Annotated[int | None, typer.Option()] = None,
    min_margin: Annotated[int | None, typer.Option(help="minimum margin % after defects")] = None,
    actor: str = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Change the stream date, buffer, calendar or links; the plan follows."""
    fields: dict[str, Any] = {
        "stream_date": _date(stream, "--stream"),
        "start_date": _date(start, "--start"),
        "buffer_days": buffer,
        "business_days": business_days,
        "country": country,
        "run_id": run_id,
        "product_id": product,
        "drop_id": drop,
        "buffer_units": buffer_units,
        "min_margin_pct": min_margin,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    _show(lambda c: c.launches.update(launch_id, actor=actor, **fields), as_json, render.launch)


@launches_app.command("timeline")
def timeline(launch_id: str, as_json: JsonOpt = False) -> None:
    """The critical-path plan: earliest and latest dates, slack, critical path."""
    _show(lambda c: c.launches.timeline(launch_id), as_json, render.timeline)


@launches_app.command("milestone")
def milestone(
    launch_id: str,
    key: Annotated[str, typer.Argument(help="e.g. sample_approval")],
    duration: Annotated[int | None, typer.Option(help="days of work")] = None,
    after: Annotated[list[str] | None, typer.Option(help="depends on (repeatable)")] = None,
    owner: str | None = None,
    actual: Annotated[str | None, typer.Option(help="the day it was reached")] = None,
    clear_actual: bool = False,
    reason: str = "",
    actor: str = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Change a milestone or record the day it was reached; the chain re-plans."""
    actual_date = _date(actual, "--actual")
    _show(
        lambda c: c.launches.set_milestone(
            launch_id,
            key,
            actor=actor,
            duration_days=duration,
            depends_on=after,
            owner=owner,
            actual_finish=actual_date,
            clear_actual=clear_actual,
            reason=reason,
        ),
        as_json,
        render.timeline,
    )


@launches_app.command("score")
def score(
    launch_id: str,
    score: Annotated[
        list[str],
        typer.Option(
            help="VARIABLE=1..5[:note], every one of " + ", ".join(v.value for v in Variable)
        ),
    ],
    reason: Annotated[str, typer.Option(help="why the scores are what they are")],
    weight: Annotated[list[str] | None, typer.Option(help="VARIABLE=N (default 1)")] = None,
    go_at: Annotated[int | None, typer.Option(help="go at or above (70)")] = None,
    review_at: Annotated[int | None, typer.Option(help="review at or above (50)")] = None,
    actor: str = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Store a new scorecard version: e.g. --score margin=5:"64 % margin"."""
    scores: dict[str, Score] = {}
    for name, value in pairs(list(score), "--score").items():
        num, _, note = value.partition(":")
        if not num.strip().isdigit():
            raise typer.BadParameter(f"--score looks like margin=4 or margin=4:note, got {value!r}")
        scores[name] = Score(int(num), note.strip())
    weights: dict[str, int] = {}
    for name, value in pairs(list(weight or []), "--weight").items():
        if not value.isdigit():
            raise typer.BadParameter(f"--weight looks like margin=3, got {value!r}")
        weights[name] = int(value)
    thresholds = Thresholds(go_at or 70, review_at or 50) if go_at or review_at else None
    _show(
        lambda c: c.launch_scores.score(
            launch_id,
            scores,
            actor=actor,
            reason=reason,
            weights=weights or None,
            thresholds=thresholds,
        ),
        as_json,
        render.scorecard,
    )


@launches_app.command("scorecard")
def scorecard(launch_id: str, as_json: JsonOpt = False) -> None:
    """The current scores, what dropline proposes from evidence, and the stress test."""
    _show(lambda c: c.launch_scores.scorecard(launch_id), as_json, render.scorecard)


def _request(
    price: int,
    cost: int,
    salvage: int,
    currency: str,
    moq: int,
    mean: float | None,
    sd: float | None,
    best: float | None,
    expected: float | None,
    worst: float | None,
    chosen: int | None,
    size: list[str] | None,
    reorder: str,
) -> FirstRunRequest:
    curve: dict[str, float] = {}
    for name, value in pairs(list(size or []), "--size").items():
        try:
            curve[name] = float(value)
        except ValueError:
            raise typer.BadParameter(f"--size looks like M=35, got {value!r}") from None
    pct, _, days = reorder.partition(":")
    if not (pct.isdigit() and days.isdigit()):
        raise typer.BadParameter(f"--reorder looks like 70:14, got {reorder!r}")
    return FirstRunRequest(
        price, cost, salvage, currency, moq, mean, sd, best, expected, worst, chosen, curve,
        int(pct), int(days),
    )  # fmt: skip


PriceOpt = Annotated[int, typer.Option(help="price in minor units")]
CostOpt = Annotated[int, typer.Option(help="unit cost in minor units")]
SalvageOpt = Annotated[int, typer.Option(help="what a leftover unit sells off for")]
MeanOpt = Annotated[float | None, typer.Option(help="demand mean (with --sd)")]
SdOpt = Annotated[float | None, typer.Option(help="demand standard deviation")]
BestOpt = Annotated[float | None, typer.Option(help="three-point: best-case demand")]
ExpOpt = Annotated[float | None, typer.Option(help="three-point: most likely demand")]
WorstOpt = Annotated[float | None, typer.Option(help="three-point: worst-case demand")]
SizeOpt = Annotated[list[str] | None, typer.Option(help="VARIANT=WEIGHT (repeatable)")]
ReorderOpt = Annotated[str, typer.Option(help="reorder at PCT:DAYS sell-through")]


@launches_app.command("scenario")
def scenario(
    launch_id: str,
    price: PriceOpt,
    cost: CostOpt,
    salvage: SalvageOpt = 0,
    currency: str = "USD",
    moq: int = 0,
    mean: MeanOpt = None,
    sd: SdOpt = None,
    best: BestOpt = None,
    expected: ExpOpt = None,
    worst: WorstOpt = None,
    chosen: Annotated[int | None, typer.Option(help="another quantity to compare")] = None,
    size: SizeOpt = None,
    reorder: ReorderOpt = "70:14",
    actor: str = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Solve and save a first-run scenario on the launch."""
    req = _request(
        price, cost, salvage, currency, moq, mean, sd, best, expected, worst, chosen, size, reorder
    )
    _show(
        lambda c: c.launch_scores.add_scenario(launch_id, req, actor=actor),
        as_json,
        render.first_run,
    )


@launches_app.command("first-run")
def first_run(
    price: PriceOpt,
    cost: CostOpt,
    salvage: SalvageOpt = 0,
    currency: str = "USD",
    moq: int = 0,
    mean: MeanOpt = None,
    sd: SdOpt = None,
    best: BestOpt = None,
    expected: ExpOpt = None,
    worst: WorstOpt = None,
    chosen: Annotated[int | None, typer.Option(help="another quantity to compare")] = None,
    size: SizeOpt = None,
    reorder: ReorderOpt = "70:14",
    as_json: JsonOpt = False,
) -> None:
    """The newsvendor first run for any product, no launch needed, nothing stored."""
    req = _request(
        price, cost, salvage, currency, moq, mean, sd, best, expected, worst, chosen, size, reorder
    )

    async def solve(c: Container) -> dict[str, Any]:
        return c.launch_scores.first_run(req)

    _show(solve, as_json, render.first_run)


@launches_app.command("calendar")
def calendar(
    launch_id: str,
    out: Annotated[Path | None, typer.Option(help="write the .ics here (else stdout)")] = None,
) -> None:
    """The timeline as an iCalendar file for the owners' calendars."""

    async def go(c: Container) -> None:
        data = await c.launches.calendar(launch_id)
        if out is None:
            typer.echo(data.decode())
        else:
            out.write_bytes(data)
            console.print(f"wrote {out}")

    run(go)

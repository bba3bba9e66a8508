"""Request bodies of the launch planning API. Integers are strict; dates are
``YYYY-MM-DD``; money is integer minor units with a currency."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt

from dropline.api.schemas import Amount, Currency, Name, Strict, Text
from dropline.domain.planning.scorecard import Variable
from dropline.domain.planning.template import Step
from dropline.services.planning.first_runs import FirstRunRequest

Key = Annotated[str, Field(min_length=1, max_length=40, examples=["sample_approval"])]
Short = Annotated[str, Field(max_length=200)]
Units = Annotated[StrictInt, Field(ge=0, le=10_000_000)]
DemandUnits = Annotated[StrictFloat, Field(ge=0, le=10_000_000)]


class MilestoneIn(Strict):
    key: Key
    name: Short = ""
    duration_days: Annotated[
        StrictInt,
        Field(ge=-3650, le=3650, description="days of work before it is reached; not negative"),
    ]
    depends_on: Annotated[list[Key], Field(max_length=50)] = []
    owner: Short = Field("", description="who answers for it; an e-mail address gets alerts")
    run_milestone: str | None = Field(
        None, description="the linked run's milestone kind it is (its actual date is the run's)"
    )

    def step(self) -> Step:
        return Step(
            self.key,
            self.name,
            self.duration_days,
            tuple(self.depends_on),
            self.owner,
            self.run_milestone,
        )


class LaunchIn(Strict):
    name: Name
    stream_date: date = Field(description="the day of the stream; not in the past")
    start_date: date | None = Field(None, description="the forward pass starts here (today)")
    buffer_days: Annotated[StrictInt, Field(ge=0, le=365)] = 7
    business_days: StrictBool = Field(False, description="count business days, not calendar days")
    country: Annotated[str, Field(max_length=2, description="holidays of this ISO country")] = ""
    concept: Text = ""
    product_id: str | None = None
    run_id: str | None = None
    drop_id: str | None = None
    buffer_units: Units = 0
    min_margin_pct: Annotated[StrictInt, Field(ge=-100, le=100)] = 0
    template: Literal["standard", "empty"] = Field(
        "standard", description="the seeds' critical path, or nothing (ignored with milestones)"
    )
    milestones: Annotated[list[MilestoneIn], Field(max_length=100)] | None = None


class LaunchPatch(Strict):
    name: Name | None = None
    stream_date: date | None = None
    start_date: date | None = None
    buffer_days: Annotated[StrictInt, Field(ge=0, le=365)] | None = None
    business_days: StrictBool | None = None
    country: Annotated[str, Field(max_length=2)] | None = None
    concept: Text | None = None
    product_id: str | None = Field(None, description='"" removes the link')
    run_id: str | None = Field(None, description='"" removes the link')
    drop_id: str | None = Field(None, description='"" removes the link')
    buffer_units: Units | None = None
    min_margin_pct: Annotated[StrictInt, Field(ge=-100, le=100)] | None = None


class TimelineIn(Strict):
    milestones: Annotated[list[MilestoneIn], Field(max_length=100)]


class MilestonePatch(Strict):
    name: Short | None = None
    duration_days: Annotated[StrictInt, Field(ge=-3650, le=3650)] | None = None
    depends_on: Annotated[list[Key], Field(max_length=50)] | None = None
    owner: Short | None = None
    actual_finish: date | None = Field(None, description="the day it was reached")
    clear_actual: StrictBool = False
    reason: Text = ""


class ScoreItem(Strict):
    score: Annotated[
        StrictInt, Field(ge=-100, le=100, description="1 (bad for the launch) to 5 (good)")
    ]
    note: Annotated[str, Field(max_length=500)] = ""


class ThresholdsIn(Strict):
    go_at: Annotated[StrictInt, Field(ge=0, le=100)] = 70
    review_at: Annotated[StrictInt, Field(ge=0, le=100)] = 50


class ScorecardIn(Strict):
    scores: dict[str, ScoreItem] = Field(
        description="every variable: " + ", ".join(v.value for v in Variable)
    )
    weights: dict[str, Annotated[StrictInt, Field(ge=-1000, le=1000)]] | None = Field(
        None, description="default equal (1 each)"
    )
    thresholds: ThresholdsIn | None = None
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class DemandIn(Strict):
    mean: DemandUnits | None = None
    sd: Annotated[StrictFloat, Field(le=10_000_000)] | None = None
    best: DemandUnits | None = None
    expected: DemandUnits | None = None
    worst: DemandUnits | None = None


class ReorderIn(Strict):
    threshold_pct: Annotated[StrictInt, Field(ge=1, le=100)] = 70
    window_days: Annotated[StrictInt, Field(ge=1, le=365)] = 14


class FirstRunIn(Strict):
    price: Amount
    unit_cost: Amount
    salvage: Amount = 0
    currency: Currency
    moq: Units = 0
    demand: DemandIn = Field(
        description='{"mean", "sd"} or {"best", "expected", "worst"} (a three-point estimate)'
    )
    chosen_quantity: Units | None = Field(None, description="another quantity to compare")
    size_curve: Annotated[dict[str, DemandUnits], Field(max_length=200)] = Field(
        {}, description="variant → weight, used when no past sell-through is known"
    )
    reorder: ReorderIn = ReorderIn()

    def request(self) -> FirstRunRequest:
        d = self.demand
        return FirstRunRequest(
            price=self.price,
            unit_cost=self.unit_cost,
            salvage=self.salvage,
            currency=self.currency,
            moq=self.moq,
            mean=d.mean,
            sd=d.sd,
            best=d.best,
            expected=d.expected,
            worst=d.worst,
            chosen_quantity=self.chosen_quantity,
            size_curve=dict(self.size_curve),
            reorder_threshold_pct=self.reorder.threshold_pct,
            reorder_window_days=self.reorder.window_days,
        )

"""The standard launch timeline: the seeds' critical path from design freeze to the
stream, with usual durations, one owner role each, and the production run's milestone
each step is tied to.

The stream itself is the anchor the plan is built backward from (``stream date −
buffer``), not a step: every step here must be done before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dropline.domain.supply.production import Milestone as RunMilestone

DEFAULT_BUFFER_DAYS = 7


@dataclass(frozen=True)
class Step:
    """A timeline milestone as the creator edits it: ``run_milestone`` ties it to the
    linked production run's milestone of that kind (its actual date is the run's)."""

    key: str
    name: str
    duration_days: int
    depends_on: tuple[str, ...] = ()
    owner: str = ""
    run_milestone: str | None = None


STANDARD: tuple[Step, ...] = (
    Step("design_freeze", "Design freeze", 5, (), "creator", RunMilestone.DESIGN_FREEZE),
    Step(
        "sample_approval",
        "Sample approval",
        14,
        ("design_freeze",),
        "manufacturer",
        RunMilestone.SAMPLE_APPROVAL,
    ),
    Step(
        "packaging_proof",
        "Packaging proof",
        10,
        ("design_freeze",),
        "designer",
        RunMilestone.PACKAGING_PROOF_APPROVAL,
    ),
    Step(
        "production_start",
        "Production start",
        3,
        ("sample_approval", "packaging_proof"),
        "manufacturer",
        RunMilestone.PRODUCTION_START,
    ),
    Step(
        "inline_qc",
        "In-line QC",
        10,
        ("production_start",),
        "qc_inspector",
        RunMilestone.INLINE_INSPECTION,
    ),
    Step("final_qc", "Final QC", 5, ("inline_qc",), "qc_inspector", RunMilestone.FINAL_QC),
    Step(
        "freight_booking",
        "Freight booking",
        2,
        ("production_start",),
        "freight_forwarder",
        RunMilestone.FREIGHT_BOOKED,
    ),
    Step(
        "freight_arrival",
        "Freight arrival",
        21,
        ("final_qc", "freight_booking"),
        "freight_forwarder",
    ),
    Step(
        "warehouse_intake",
        "Warehouse intake",
        2,
        ("freight_arrival",),
        "warehouse",
        RunMilestone.WAREHOUSE_INTAKE,
    ),
    Step("count_and_staging", "Count and staging", 2, ("warehouse_intake",), "ops_lead"),
    Step("rehearsal", "Rehearsal", 1, ("count_and_staging",), "ops_lead"),
)
"""Design freeze → sample approval → production start → in-line QC → final QC →
freight arrival → warehouse intake → count and staging → rehearsal (63 days), with the
packaging proof and freight booking beside the chain (4 and 13 days of float)."""

"""Tables for manufacturers, production runs, lots, QC and pre-orders.

Defined on the shared ``metadata`` so Alembic sees one schema. Pre-order offers reuse
``drop_offers`` for their cap and sold count (``offered`` = cap), so the reservation
engine and the ledger's conditional ``record_sale`` guard them exactly like in-stock
offers; ``preorder_offers`` marks such a row as a pre-order and links it to its run.
``preorder_cap_changes`` is the append-only record of every change to such a cap: the
units a drop may promise from a run, which are not stock (they do not exist yet).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from dropline.store.columns import SeqType, UtcDateTime, metadata


def _ts(name: str, nullable: bool = False) -> Column[Any]:
    return Column(name, UtcDateTime(), nullable=nullable)


manufacturers = Table(
    "manufacturers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("contacts", JSON, nullable=False),
    Column("sample_approver", String(200), nullable=False, default=""),
    Column("escalation_contact", String(200), nullable=False, default=""),
    Column("default_lead_time_days", Integer, nullable=False, default=0),
    Column("notes", Text, nullable=False, default=""),
    _ts("created_at"),
)

qc_spec_versions = Table(
    "qc_spec_versions",
    metadata,
    Column("spec_id", String(40), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("product_id", String(40), ForeignKey("products.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("content", JSON, nullable=False),
    Column("created_by", String(120), nullable=False, default=""),
    _ts("created_at"),
    _ts("frozen_at", nullable=True),
    Column("frozen_by", String(120), nullable=True),
)

golden_samples = Table(
    "golden_samples",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("spec_id", String(40), nullable=False),
    Column("spec_version", Integer, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("registered_by", String(120), nullable=False),
    _ts("registered_at"),
    Column("approved_by", String(120), nullable=True),
    _ts("approved_at", nullable=True),
    Column("approval_note", Text, nullable=False, default=""),
    ForeignKeyConstraint(
        ["spec_id", "spec_version"], ["qc_spec_versions.spec_id", "qc_spec_versions.version"]
    ),
)

production_runs = Table(
    "production_runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("manufacturer_id", String(40), ForeignKey("manufacturers.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("deposit_amount", BigInteger, nullable=False, default=0),
    Column("moq", Integer, nullable=False, default=0),
    Column("moq_override_reason", Text, nullable=True),
    Column("moq_override_by", String(120), nullable=True),
    Column("qc_spec_id", String(40), nullable=True),
    Column("qc_spec_version", Integer, nullable=True),
    Column("handling_min_days", Integer, nullable=False, default=2),
    Column("handling_max_days", Integer, nullable=False, default=5),
    Column("previous_run_id", String(40), nullable=True),
    Column("reorder_threshold_pct", Integer, nullable=True),
    Column("reorder_window_days", Integer, nullable=True),
    _ts("reorder_proposed_at", nullable=True),
    Column("created_by", String(120), nullable=False, default=""),
    _ts("created_at"),
    CheckConstraint("deposit_amount >= 0 AND moq >= 0", name="nonneg"),
)

production_run_lines = Table(
    "production_run_lines",
    metadata,
    Column("run_id", String(40), ForeignKey("production_runs.id"), primary_key=True),
    Column("sku_id", String(40), ForeignKey("skus.id"), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    Column("moq", Integer, nullable=False, default=0),
    Column("cost_tiers", JSON, nullable=False),
    CheckConstraint("quantity > 0", name="qty_pos"),
)

run_milestones = Table(
    "run_milestones",
    metadata,
    Column("run_id", String(40), ForeignKey("production_runs.id"), primary_key=True),
    Column("kind", String(40), primary_key=True),
    _ts("planned_at", nullable=True),
    _ts("actual_at", nullable=True),
    Column("owner", String(120), nullable=False, default=""),
    Column("notes", Text, nullable=False, default=""),
)

milestone_changes = Table(
    "milestone_changes",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("run_id", String(40), ForeignKey("production_runs.id"), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("field", String(20), nullable=False),
    _ts("old_value", nullable=True),
    _ts("new_value", nullable=True),
    Column("actor", String(120), nullable=False),
    Column("reason", Text, nullable=False),
    _ts("changed_at"),
)

lots = Table(
    "lots",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("run_id", String(40), ForeignKey("production_runs.id"), nullable=False, index=True),
    Column("sku_id", String(40), ForeignKey("skus.id"), nullable=False, index=True),
    Column("batch_number", String(80), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("disposition_note", Text, nullable=False, default=""),
    Column("received_by", String(120), nullable=False, default=""),
    _ts("received_at"),
    _ts("updated_at"),
    Column("version", Integer, nullable=False, default=1),
    CheckConstraint("quantity > 0", name="qty_pos"),
)

inspections = Table(
    "inspections",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("lot_id", String(40), ForeignKey("lots.id"), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("stage", String(30), nullable=False),
    Column("spec_id", String(40), nullable=False),
    Column("spec_version", Integer, nullable=False),
    Column("level", String(5), nullable=False),
    Column("lot_size", BigInteger, nullable=False),
    Column("sample_size", BigInteger, nullable=False),
    Column("resubmitted", Boolean, nullable=False, default=False),
    Column("classes", JSON, nullable=False),
    Column("measurements", JSON, nullable=False),
    Column("checks", JSON, nullable=False),
    Column("notes", Text, nullable=False, default=""),
    Column("accepted", Boolean, nullable=False),
    Column("inspector", String(120), nullable=False),
    Column("approver", String(120), nullable=True),
    _ts("signed_off_at", nullable=True),
    _ts("created_at"),
)

inspection_photos = Table(
    "inspection_photos",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("inspection_id", String(40), ForeignKey("inspections.id"), nullable=False, index=True),
    Column("defect_class", String(20), nullable=True),
    Column("filename", String(200), nullable=False),
    Column("path", String(400), nullable=False),
    Column("content_type", String(80), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("note", Text, nullable=False, default=""),
    _ts("created_at"),
)

switching_states = Table(
    "switching_states",
    metadata,
    Column("manufacturer_id", String(40), primary_key=True),
    Column("product_id", String(40), primary_key=True),
    Column("defect_class", String(20), primary_key=True),
    Column("state", JSON, nullable=False),
    _ts("updated_at"),
)

preorder_offers = Table(
    "preorder_offers",
    metadata,
    Column("drop_id", String(40), primary_key=True),
    Column("sku_id", String(40), primary_key=True),
    Column("run_id", String(40), ForeignKey("production_runs.id"), nullable=False, index=True),
    _ts("closes_at"),
    Column("payment_mode", String(20), nullable=False),
    _ts("created_at"),
    ForeignKeyConstraint(
        ["drop_id", "sku_id"], ["drop_offers.drop_id", "drop_offers.sku_id"], ondelete="CASCADE"
    ),
)

preorder_cap_changes = Table(
    "preorder_cap_changes",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("drop_id", String(40), nullable=False, index=True),
    Column("sku_id", String(40), nullable=False),
    Column("run_id", String(40), ForeignKey("production_runs.id"), nullable=False),
    Column("delta", BigInteger, nullable=False),
    Column("cap", BigInteger, nullable=False),
    _ts("created_at"),
    CheckConstraint("delta <> 0", name="delta_nonzero"),
    CheckConstraint("cap >= 0", name="cap_nonneg"),
)

preorders = Table(
    "preorders",
    metadata,
    Column("order_id", String(40), ForeignKey("orders.id"), primary_key=True),
    Column("drop_id", String(40), nullable=False, index=True),
    Column("buyer_id", String(120), nullable=False),
    Column("run_id", String(40), nullable=False, index=True),
    Column("payment_mode", String(20), nullable=False),
    Column("captured", Boolean, nullable=False),
    _ts("authorization_expires_at", nullable=True),
    Column("status", String(20), nullable=False, index=True),
    _ts("paid_at"),
    _ts("promised_ship_by", nullable=True),
    _ts("estimate_earliest", nullable=True),
    _ts("estimate_latest", nullable=True),
    Column("consent", String(20), nullable=False),
    _ts("consent_deadline", nullable=True),
    _ts("cancelled_at", nullable=True),
    _ts("refunded_at", nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Index("ix_preorders_status_deadline", "status", "consent_deadline"),
)

preorder_lines = Table(
    "preorder_lines",
    metadata,
    Column("order_id", String(40), ForeignKey("preorders.order_id"), primary_key=True),
    Column("sku_id", String(40), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    Column("allocated", BigInteger, nullable=False, default=0),
    CheckConstraint("allocated >= 0 AND allocated <= quantity", name="allocation_bounds"),
)

lot_allocations = Table(
    "lot_allocations",
    metadata,
    Column("lot_id", String(40), ForeignKey("lots.id"), primary_key=True),
    Column("order_id", String(40), ForeignKey("orders.id"), primary_key=True),
    Column("sku_id", String(40), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    _ts("allocated_at"),
)

preorder_notices = Table(
    "preorder_notices",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("order_id", String(40), ForeignKey("orders.id"), nullable=False, index=True),
    Column("kind", String(30), nullable=False),
    Column("payload", JSON, nullable=False),
    _ts("created_at"),
)

# A lot whose field defect rate passed the threshold (``domain.supply.quality``): its
# remaining units contained in quality_control, its manufacturer on tightened inspection,
# closed only with a corrective action and a later lot of theirs that passed.
quality_alerts = Table(
    "quality_alerts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("lot_id", String(40), ForeignKey("lots.id"), nullable=False, unique=True),
    Column("manufacturer_id", String(40), nullable=False, index=True),
    Column("sku_id", String(40), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("threshold_bp", Integer, nullable=False),
    Column("defect_rate_bp", Integer, nullable=False),
    Column("defective_units", BigInteger, nullable=False),
    Column("delivered_units", BigInteger, nullable=False),
    Column("contained_units", BigInteger, nullable=False),
    Column("corrective_action", Text, nullable=False, default=""),
    Column("closing_lot_id", String(40), nullable=True),
    Column("closed_by", String(120), nullable=False, default=""),
    _ts("opened_at"),
    _ts("closed_at", nullable=True),
    _ts("updated_at"),
    Column("version", Integer, nullable=False, default=1),
)

# The defect rate (basis points of delivered units) above which a lot raises an alert:
# one row per manufacturer, or ``*`` for every manufacturer without its own.
quality_thresholds = Table(
    "quality_thresholds",
    metadata,
    Column("manufacturer_id", String(40), primary_key=True),
    Column("threshold_bp", Integer, nullable=False),
    _ts("updated_at"),
    CheckConstraint("threshold_bp >= 0 AND threshold_bp <= 10000", name="threshold_range"),
)

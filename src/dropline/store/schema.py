"""Every table of the schema on one ``metadata``: import this, not a single capability's
tables module, wherever the whole schema is needed (Alembic, ``create_all`` in tests).

Each capability keeps its own tables in ``store/<capability>/tables.py``; importing them
here registers them all, so foreign keys between capabilities resolve.
"""

from __future__ import annotations

from dropline.store.aftersales import tables as aftersales_tables
from dropline.store.catalog import tables as catalog_tables
from dropline.store.columns import metadata
from dropline.store.fulfilment import tables as fulfilment_tables
from dropline.store.insight import tables as insight_tables
from dropline.store.live import access_tables, payment_tables, waitlist_tables, webhook_tables
from dropline.store.live import tables as live_tables
from dropline.store.planning import tables as planning_tables
from dropline.store.platform import tables as platform_tables
from dropline.store.readiness import tables as readiness_tables
from dropline.store.stock import tables as stock_tables
from dropline.store.supply import tables as supply_tables

MODULES = (
    catalog_tables,
    stock_tables,
    live_tables,
    payment_tables,
    webhook_tables,
    access_tables,
    waitlist_tables,
    platform_tables,
    supply_tables,
    fulfilment_tables,
    aftersales_tables,
    insight_tables,
    planning_tables,
    readiness_tables,
)

__all__ = ["MODULES", "metadata"]

"""The supply side's repository, ``uow.production``: one object over manufacturers,
runs, lots, QC records and pre-orders, its queries kept by topic in ``runs_repo``,
``qc_repo`` and ``preorders_repo``."""

from __future__ import annotations

from dropline.store.supply.preorders_repo import PreorderQueries
from dropline.store.supply.qc_repo import QcQueries
from dropline.store.supply.runs_repo import RunQueries


class ProductionRepository(RunQueries, QcQueries, PreorderQueries):
    """Every supply-side query on one unit of work's connection."""

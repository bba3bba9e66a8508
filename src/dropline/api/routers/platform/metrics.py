"""``GET /metrics``: Prometheus's text format, for an ops key.

In the multi-process mode (``PROMETHEUS_MULTIPROC_DIR`` set, as ``dropline serve`` and
``dropline worker`` do) the answer adds up every process writing to that directory, so
one scrape of any API process sees the whole server; otherwise this process's own
registry. Instruments: ``services/platform/metrics.py``.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Response

from dropline.api.deps import ContainerDep, Ops
from dropline.services.platform.metrics import flush, metrics

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def scrape(c: ContainerDep, _: Ops) -> Response:
    """Every dropline metric in the Prometheus text format (ops key; Prometheus sends it
    as ``authorization: {credentials: <key>}``). The database pool figures are this
    process's, read now."""
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
    )
    from prometheus_client.multiprocess import MultiProcessCollector

    flush()  # this process's in-process sums first
    pool = c.db.sync_engine.pool
    gauge = metrics().db_pool
    for state, read in (("checked_out", "checkedout"), ("size", "size")):
        value = getattr(pool, read, None)
        if callable(value):
            gauge.labels(state).set(float(value()))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

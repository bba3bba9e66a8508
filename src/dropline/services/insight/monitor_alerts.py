"""The monitor's alerts: a SKU sold out, low or waiting for its next access window; a
payment-failure spike; a scheduled start the readiness gate refused; a webhook endpoint
failing or switched off (with the hand-off's orders at SLA risk)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from dropline.services.insight.monitor_cues import WINDOW_TAKEN

# A payment-failure spike: at least this many failures in the last minute, making up at
# least this share of the minute's finished checkouts.
SPIKE_MIN_FAILURES = 3
SPIKE_MIN_SHARE = 0.3


def stock_alerts(
    rows: list[dict[str, Any]], failed_recent: int, finished_recent: int
) -> list[dict[str, Any]]:
    """An alert per SKU row sold out, low or whose open windows' units are taken, and
    one for a payment-failure spike in the last minute."""
    alerts: list[dict[str, Any]] = []
    for r in rows:
        if r["state"] == WINDOW_TAKEN:
            alerts.append(
                {
                    "kind": WINDOW_TAKEN,
                    "level": "info",
                    "sku_id": r["sku_id"],
                    "message": f"{r['name']}: {r['state_text']}",
                }
            )
        elif r["offered"] and r["state"] == "sold_out":
            alerts.append(
                {
                    "kind": "sold_out",
                    "level": "info",
                    "sku_id": r["sku_id"],
                    "message": f"{r['name']} is sold out",
                }
            )
        elif r["remaining"] <= r["low_stock_threshold"] and r["offered"]:
            alerts.append(
                {
                    "kind": "low_stock",
                    "level": "warning",
                    "sku_id": r["sku_id"],
                    "message": f"{r['name']}: only {r['remaining']} left",
                }
            )
    if failed_recent >= SPIKE_MIN_FAILURES and failed_recent >= SPIKE_MIN_SHARE * finished_recent:
        alerts.append(
            {
                "kind": "payment_failure_spike",
                "level": "critical",
                "sku_id": None,
                "message": f"{failed_recent} of {finished_recent} payments "
                "failed in the last minute",
            }
        )
    return alerts


def start_blocked_alert(blocked: dict[str, Any]) -> dict[str, Any]:
    """The scheduled start the readiness gate refused: the drop is not live."""
    return {
        "kind": "start_blocked",
        "level": "critical",
        "sku_id": None,
        "message": f"the scheduled start did not happen: {blocked['detail']}",
    }


async def handoff_health(
    drop_id: str,
    sla_report: Callable[[str], Awaitable[dict[str, Any]]] | None,
    endpoints: Callable[[], Awaitable[list[dict[str, Any]]]] | None,
) -> tuple[int | None, dict[str, Any] | None, list[dict[str, Any]]]:
    """Orders of the drop at SLA risk or in breach, and the webhook endpoints'
    health with an alert for each one failing or switched off (None for what the
    monitor was not given a reader of)."""
    sla_risk = None
    if sla_report is not None:
        report = await sla_report(drop_id)
        sla_risk = len(report["at_risk"]) + len(report["breached"])
    if endpoints is None:
        return sla_risk, None, []
    found = await endpoints()
    failing = [e for e in found if e["consecutive_failures"] > 0 or not e["enabled"]]
    alerts = [
        {
            "kind": "endpoint_failing",
            "level": "warning" if e["enabled"] else "critical",
            "endpoint_id": e["id"],
            "message": (
                f"webhook endpoint {e['url']} "
                + (
                    f"is off: {e['disabled_reason'] or 'disabled'}"
                    if not e["enabled"]
                    else f"failed {e['consecutive_failures']} times in a row"
                )
            ),
        }
        for e in failing
    ]
    hooks = {"endpoints": len(found), "failing": len(failing)}
    return sla_risk, hooks, alerts

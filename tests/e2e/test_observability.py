"""What an operator watches, from a real ``dropline serve`` process: ``/metrics`` in the
Prometheus format (multi-process mode, ops key) whose figures match a small scripted
drop, JSON log lines carrying the request id, and the request id on every response and
problem body."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.conftest import FAST_BACKGROUND
from e2e.server import DroplineServer, Template, seed_drop

pytestmark = pytest.mark.e2e
VISA = "4242424242424242"
DECLINED = "4000000000000002"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by (name, sorted labels), per-process labels dropped by summing."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "pid"))
            out[(s.name, labels)] = out.get((s.name, labels), 0.0) + s.value
    return out


@pytest.fixture
def observed(tmp_path: Path, server_template: Template) -> DroplineServer:
    env = {**FAST_BACKGROUND, "DROPLINE_LOG_FORMAT": "json", "DROPLINE_LOG_LEVEL": "debug"}
    srv = DroplineServer(tmp_path / "server", env=env, template=server_template)
    srv.start()
    yield srv  # type: ignore[misc]
    srv.stop()


async def test_metrics_match_a_scripted_drop(observed: DroplineServer) -> None:
    srv = observed
    async with httpx.AsyncClient(base_url=srv.base_url, timeout=30) as http:
        seeded = await seed_drop(http, srv.admin_key, skus={"tee": 5})
        sku = seeded.skus["tee"]
        store = {"Authorization": f"Bearer {seeded.storefront_key}"}
        holds = []
        for n in range(8):  # 5 win the units, 3 are refused sold_out
            r = await http.post(
                f"/v1/drops/{seeded.drop_id}/holds",
                json={"items": [{"sku_id": sku, "quantity": 1}]},
                headers={**store, "X-Buyer-Token": srv.buyer_token(f"b{n}")},
            )
            assert r.status_code in (201, 409), r.text
            if r.status_code == 201:
                holds.append((n, r.json()["id"]))
        assert len(holds) == 5
        for n, hold_id in holds[:3]:  # 3 orders, 1 declined card
            r = await http.post(
                "/v1/checkouts",
                json={"hold_id": hold_id, "payment_method": VISA},
                headers={**store, "X-Buyer-Token": srv.buyer_token(f"b{n}")},
            )
            assert r.status_code == 201, r.text
        n, hold_id = holds[3]
        r = await http.post(
            "/v1/checkouts",
            json={"hold_id": hold_id, "payment_method": DECLINED},
            headers={**store, "X-Buyer-Token": srv.buyer_token(f"b{n}")},
        )
        assert r.status_code == 402, r.text

        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers=store)).status_code == 403
        r = await http.get("/metrics", headers=srv.admin_headers())
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
    got = samples(r.text)
    assert got[("dropline_holds_placed_total", ())] == 5
    assert got[("dropline_holds_refused_total", (("code", "sold_out"),))] == 3
    assert got[("dropline_hold_seconds_count", ())] == 8
    assert got[("dropline_engine_seconds_count", (("op", "place_hold"),))] == 8
    assert got[("dropline_orders_total", ())] == 3
    assert got[("dropline_checkouts_total", (("outcome", "succeeded"),))] == 3
    assert got[("dropline_checkouts_total", (("outcome", "payment_declined"),))] == 1
    assert got[("dropline_checkout_seconds_count", ())] == 4
    assert got[("dropline_job_runs_total", (("job", "expire-holds"),))] >= 1
    assert ("dropline_db_pool_connections", (("state", "checked_out"),)) in got
    assert ("dropline_hold_event_drain_lag_seconds", ()) in got


async def test_json_logs_and_problems_carry_the_request_id(observed: DroplineServer) -> None:
    srv = observed
    async with httpx.AsyncClient(base_url=srv.base_url, timeout=30) as http:
        seeded = await seed_drop(http, srv.admin_key, skus={"tee": 1})
        sku = seeded.skus["tee"]
        store = {"Authorization": f"Bearer {seeded.storefront_key}"}
        body = {"items": [{"sku_id": sku, "quantity": 2}]}  # more than there is
        r = await http.post(
            f"/v1/drops/{seeded.drop_id}/holds",
            json=body,
            headers={**store, "X-Buyer-Token": srv.buyer_token("b1"), "X-Request-ID": "req-42"},
        )
        assert r.status_code == 409
        assert r.headers["x-request-id"] == "req-42"
        assert r.json()["request_id"] == "req-42"  # the hot path's problem
        assert int(r.headers["content-length"]) == len(r.content)
        # a route through FastAPI, and an id the server made
        r = await http.get("/v1/drops/drp_missing", headers=srv.admin_headers())
        assert r.status_code == 404
        made = r.headers["x-request-id"]
        assert made and r.json()["request_id"] == made
        # an unusable id is replaced, not echoed
        r = await http.get("/healthz", headers={"X-Request-ID": 'bad"id\\'})
        assert r.headers["x-request-id"] != 'bad"id\\'
    lines = [ln for ln in srv.log().splitlines() if ln.startswith("{")]
    records = [json.loads(ln) for ln in lines]  # every JSON line parses
    assert records and all({"time", "level", "logger", "message"} <= set(x) for x in records)
    mine = [x for x in records if x.get("request_id") == "req-42"]
    assert mine and "409" in mine[0]["message"], records[-5:]
    assert any(x.get("request_id") == made for x in records)

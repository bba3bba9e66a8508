"""Bad input against a real ``dropline serve``, on one keep-alive connection.

Each of these used to be a 500 (on SQLite, PostgreSQL or both), and after a 500 the
server closed the connection. Now each is a 4xx problem and the connection goes on: all
requests below must leave from the same client port.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backends import PG_URL, migrate_pg, require_server, truncate_pg
from e2e.server import DroplineServer
from preorders_support import SPEC

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DroplineServer]:
    database_url = None
    if request.param == "postgres":
        require_server("PostgreSQL", "127.0.0.1", 5432)
        migrate_pg()
        asyncio.run(truncate_pg())
        database_url = PG_URL
    srv = DroplineServer(tmp_path / "server", database_url=database_url)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def _port(resp: httpx.Response) -> int:
    """The client's local port of the connection that carried ``resp``."""
    addr = resp.extensions["network_stream"].get_extra_info("client_addr")
    return int(addr[1])


def test_bad_input_is_a_4xx_and_keeps_the_connection(server: DroplineServer) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    admin = server.admin_headers()
    as_json = admin | {"Content-Type": "application/json"}
    with httpx.Client(base_url=server.base_url, limits=limits, timeout=30) as client:
        product = client.post("/v1/products", json={"name": "Hoodie"}, headers=admin)
        assert product.status_code == 201, product.text
        spec = client.post(
            "/v1/qc/specs",
            json={"product_id": product.json()["id"], "name": "v1", "content": SPEC},
            headers=admin,
        )
        assert spec.status_code == 201, spec.text
        spec_id = spec.json()["spec_id"]
        huge_field = "order_id,carrier,tracking_number\nord_1,UPS," + "9" * 140_000 + "\n"
        bad = [
            ("POST", "/v1/products", b'{"name": "a\\u0000b"}', as_json, "validation_error"),
            ("POST", "/v1/products", b'{"name": "\\ud800"}', as_json, "validation_error"),
            (
                "POST",
                "/v1/qc/specs",
                json.dumps({"product_id": "p", "name": "n", "content": {"k": "\ud800"}}).encode(),
                as_json,
                "validation_error",
            ),
            ("GET", "/v1/orders/ord%00x", b"", admin, "validation_error"),
            (
                "POST",
                f"/v1/qc/specs/{spec_id}/versions/100000000000000000000/golden-samples",
                b"{}",
                as_json,
                "validation_error",
            ),
            (
                "POST",
                "/v1/fulfillment-events/tracking-import",
                huge_field.encode(),
                admin | {"Content-Type": "text/csv"},
                "csv_field_too_large",
            ),
        ]
        ports = {_port(spec)}
        for method, url, content, headers, code in bad:
            resp = client.request(method, url, content=content, headers=headers)
            assert 400 <= resp.status_code < 500, (url, resp.status_code, resp.text)
            assert resp.headers["content-type"] == "application/problem+json"
            assert resp.json()["code"] == code, resp.text
            ports.add(_port(resp))
        after = client.post("/v1/products", json={"name": "Cap"}, headers=admin)
        assert after.status_code == 201
        ports.add(_port(after))
    assert len(ports) == 1, f"the server closed the connection: client ports {ports}"
    assert "Traceback" not in server.log()

"""Oversized, deeply nested, over-long and slow requests against a real server: each
gets its problem response, the connection or the process stays healthy, and the server
does not grow in memory reading what it refuses."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.server import DroplineServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DroplineServer]:
    srv = DroplineServer(
        tmp_path_factory.mktemp("bounded"),
        env={"DROPLINE_REQUEST_READ_TIMEOUT_S": "1.5", "DROPLINE_MAX_BODY_BYTES": "65536"},
    )
    srv.prepare()
    srv.start()
    yield srv
    srv.stop()


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _raw(port: int, data: bytes, *, read_timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
        return out


def _headers(srv: DroplineServer) -> dict[str, str]:
    return {"authorization": f"Bearer {srv.admin_key}", "content-type": "application/json"}


def test_a_body_over_the_limit_is_refused_before_it_is_read(server: DroplineServer) -> None:
    assert server.proc is not None
    before = _rss_kb(server.proc.pid)
    head = (
        b"POST /v1/products HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer " + server.admin_key.encode() + b"\r\n"
        b"content-length: 52428800\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head + b"{" + b" " * 65536)  # 50 MB announced, 64 KiB sent
        reply = s.recv(65536)
    status, _, rest = reply.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 413 ")
    assert b"application/problem+json" in rest
    assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["code"] == "payload_too_large"
    assert _rss_kb(server.proc.pid) - before < 10_000


def test_a_chunked_body_with_no_length_is_cut_at_the_limit(server: DroplineServer) -> None:
    assert server.proc is not None
    before = _rss_kb(server.proc.pid)

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(2000):  # 2000 x 8 KiB = 16 MB offered, far past the limit
            yield b"a" * 8192

    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        r = client.post("/v1/products", content=chunks(), headers=_headers(server))
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "payload_too_large"
    assert _rss_kb(server.proc.pid) - before < 20_000


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[" * 200 + b"]" * 200, "json_too_complex"),
        (b'{"name": "x", "tags": [' + b",".join([b"1"] * 5000) + b"]}", "json_too_complex"),
    ],
    ids=["nested", "long-list"],
)
def test_hostile_json_shapes_are_refused(server: DroplineServer, body: bytes, code: str) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        r = client.post("/v1/products", content=body, headers=_headers(server))
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == code
        # the same keep-alive connection serves the next request
        ok = client.post("/v1/products", json={"name": "Tee"}, headers=_headers(server))
        assert ok.status_code == 201


def test_a_slow_body_gets_408_and_the_connection_closes(server: DroplineServer) -> None:
    head = (
        b"POST /v1/products HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer " + server.admin_key.encode() + b"\r\n"
        b"content-length: 100\r\n\r\n"
    )
    started = time.monotonic()
    reply = _raw(server.port, head + b'{"name": ')  # 9 of 100 bytes, then silence
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout")
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["code"] == "request_timeout"
    assert 1.0 < time.monotonic() - started < 8  # closed by the server, not our timeout


def test_slow_headers_get_408_too(server: DroplineServer) -> None:
    reply = _raw(server.port, b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ")
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout")


def test_the_server_still_answers_after_all_of_it(server: DroplineServer) -> None:
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200

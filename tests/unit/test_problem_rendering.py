"""The problem+json renderer (``api/errors.py``) never crashes on the text it echoes.

A lone surrogate cannot be encoded as UTF-8, so JSON encoders refuse it: when an error's
detail or extras repeated one from the input, rendering the 4xx itself failed and the
caller got a 500 (and lost the connection). The renderer escapes such text instead.
"""

from __future__ import annotations

import json

import httpx
import orjson
from fastapi import FastAPI

from dropline.api import errors
from dropline.api.hotpath import refusal
from dropline.domain.errors import InvalidInput

BAD = "size \ud800"


def test_problem_body_escapes_lone_surrogates_everywhere() -> None:
    body = errors.problem_body(
        422, "validation_error", f"no {BAD}", "/v1/x", value=BAD, nested={BAD: [BAD]}
    )
    encoded = orjson.dumps(body)  # raises on a lone surrogate
    back = json.loads(encoded)
    assert back["detail"] == "no size \\ud800" and back["value"] == "size \\ud800"
    assert back["nested"] == {"size \\ud800": ["size \\ud800"]}
    # Valid text is untouched, NUL included (JSON carries it as \u0000).
    plain = errors.problem_body(422, "validation_error", "caf\u00e9 a\x00b")
    assert plain["detail"] == "caf\u00e9 a\x00b"


def test_hot_path_refusal_renders_a_surrogate() -> None:
    resp = refusal(InvalidInput(f"bad {BAD}", sku_id=BAD), "/v1/drops/d/holds")
    assert resp.status == 422
    assert json.loads(resp.body)["sku_id"] == "size \\ud800"


async def test_route_error_with_a_surrogate_is_its_4xx_and_the_client_goes_on() -> None:
    app = FastAPI()
    errors.install(app)

    @app.get("/echo")
    async def echo(value: str = "") -> dict[str, str]:
        raise InvalidInput(f"unknown size {BAD}", field="size", given=BAD)

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {"ok": "yes"}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        resp = await client.get("/echo")
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"] == errors.PROBLEM
        assert resp.json()["given"] == "size \\ud800"
        assert (await client.get("/ok")).json() == {"ok": "yes"}

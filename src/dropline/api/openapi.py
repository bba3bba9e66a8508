"""The OpenAPI document, amended to say what the API really answers.

FastAPI describes each operation's success response and a 422 in its own JSON shape.
The server answers more than that, and differently: every error is RFC 9457
``application/problem+json`` (``api/errors.py``), a key or a buyer token is checked
before anything else, an unknown id is a 404, a state that forbids the change is a 409.
``amend`` walks the routes once, when the document is first built, and derives from
each route what it can answer, so no route lists its errors by hand:

* ``security`` from the security schemes its dependencies use (``api/deps.py``): the
  API key with the least scope it needs, and the buyer token, required or optional;
* 401 when it needs a key or a buyer token, 403 when it needs more than the
  ``storefront`` scope or acts on a buyer's own hold or checkout;
* 400 ``malformed_json`` and 422 ``validation_error`` when FastAPI reads its JSON body,
  422 when it takes any parameter or reads a body itself (declared in ``openapi_extra``);
* 408 ``request_timeout`` and 413 ``payload_too_large`` when it reads a body (the limits
  of ``api/limits.py`` and ``api/http_protocol.py``);
* 404 when it names a resource (a path parameter or a body), 409 when it changes one;
* whatever the route itself declares in ``responses=`` (402, 410, 502, 503 ...).

Every error response gets the ``Problem`` schema (422 the ``ValidationProblem``) as
``application/problem+json``, unless the route gave it a model of its own (``/readyz``
answers its 503 with its checks). ``tests/integration/test_openapi_contract.py`` walks
the document, and ``tests/e2e/test_schemathesis.py`` fuzzes the server against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from dropline.api.deps import API_KEY_SCHEME, BUYER_TOKEN_SCHEME, ApiKeyAuth, BuyerTokenAuth
from dropline.api.errors import PROBLEM

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
VALIDATION_PROBLEM_REF = {"$ref": "#/components/schemas/ValidationProblem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details. `code` is stable; the error's own fields "
    "(`sku_id`, `remaining`, `limit` ...) come beside the standard members.",
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string", "description": "https://dropline.dev/problems/<code>"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "examples": ["sold_out", "validation_error"]},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the request path"},
    },
    "additionalProperties": True,
}
VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationProblem",
    "description": "A problem; when the request did not match this document, `errors` "
    "lists every part that did not (a rule the document cannot express has none).",
    "allOf": [
        PROBLEM_REF,
        {
            "type": "object",
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["loc", "msg"],
                        "properties": {
                            "loc": {"type": "array", "items": {"type": "string"}},
                            "msg": {"type": "string"},
                        },
                    },
                }
            },
        },
    ],
}

#: What an error status means when the route does not say more.
MEANING: dict[int, str] = {
    400: "`malformed_json`: the body is not valid JSON",
    401: "`unauthenticated`: no valid API key, or no valid buyer token where one is needed",
    402: "`payment_declined`: the card was declined",
    403: "`forbidden`: the key's scope is too low; `hold_not_owned`: another buyer's",
    429: "`rate_limited`: too many holds or checkouts from this buyer or address for the "
    "drop's limits; `Retry-After` (and `retry_after_s`) says when to try again",
    404: "`not_found`: an id in the path or the body names nothing",
    409: "a conflict with the current state (`invalid_transition`, `idempotency_mismatch`, "
    "`sold_out` ...)",
    408: "`request_timeout`: the request did not arrive whole in time; the connection is closed",
    410: "`hold_expired`: the hold's time ran out",
    413: "`payload_too_large`: the body is larger than this route takes",
    422: "`validation_error`: the request does not match this document (or a rule the "
    "document cannot express, such as an unknown currency); `json_too_complex`: the JSON "
    "body nests too deep or holds too long a list",
    502: "`payment_provider_error`: the payment provider failed",
    503: "`engine_unavailable`: the reservation engine is unreachable; retry",
}
#: FastAPI's descriptions, replaced by ``MEANING``.
_DEFAULT_DESCRIPTIONS = {"Validation Error", "Successful Response", "Additional Response"}
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def errors(*status: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router that answers these error statuses beyond
    what its shape says (``amend`` gives them the problem schema); a 429 documents its
    ``Retry-After`` header."""
    out: dict[int | str, dict[str, Any]] = {s: {"description": MEANING[s]} for s in status}
    if 429 in out:
        out[429]["headers"] = {
            "Retry-After": {
                "description": "whole seconds until the attempt may succeed",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return out


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the amended document (built once per route set)."""
    amended: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        doc = FastAPI.openapi(app)
        if not amended or amended[0] is not doc:
            amend(app, doc)
            amended[:] = [doc]
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def amend(app: FastAPI, doc: dict[str, Any]) -> None:
    """Give every operation its security requirement and every error it can answer,
    and the document the ``Problem`` schemas instead of FastAPI's validation error.
    (The security schemes themselves come from ``api/deps.py`` through FastAPI.)"""
    for route in api_routes(app):
        for method in sorted(route.methods):
            op = doc["paths"][route.path_format][method.lower()]
            _amend_operation(route, method, op)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["ValidationProblem"] = VALIDATION_PROBLEM_SCHEMA


def api_routes(app: FastAPI, *, documented_only: bool = True) -> Iterator[Any]:
    """The API routes (by default only those in the document), as FastAPI's route
    contexts: an ``APIRoute`` with the prefix and dependencies of its routers."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and (
            route.include_in_schema or not documented_only
        ):
            yield route


def _tree(dependant: Dependant) -> Iterator[Dependant]:
    """The route's dependant and all its dependencies, at any depth."""
    yield dependant
    for sub in dependant.dependencies:
        yield from _tree(sub)


def _schemes(dependant: Dependant) -> Iterator[ApiKeyAuth | BuyerTokenAuth]:
    """The security schemes a route's dependencies use."""
    for d in _tree(dependant):
        if isinstance(d.call, (ApiKeyAuth, BuyerTokenAuth)):
            yield d.call


def security(route: RouteContext) -> list[dict[str, list[str]]]:
    """The route's OpenAPI security requirement: the key and the buyer token are both
    needed (one requirement object), not either (FastAPI's list of two)."""
    found = list(_schemes(route.dependant))
    keys = [s.needed for s in found if isinstance(s, ApiKeyAuth)]
    tokens = [s for s in found if isinstance(s, BuyerTokenAuth)]
    base: dict[str, list[str]] = {API_KEY_SCHEME: keys[:1]} if keys else {}
    if not tokens:
        return [base] if base else []
    with_token = base | {BUYER_TOKEN_SCHEME: []}
    if any(t.required for t in tokens):
        return [with_token]
    return [with_token, base] if base else [with_token, {}]


def statuses(route: RouteContext, method: str) -> dict[int, str]:
    """The error statuses a route can answer by its shape alone (see the module
    docstring), with what each means."""
    found = list(_schemes(route.dependant))
    tree = list(_tree(route.dependant))
    path_params = any(d.path_params for d in tree)
    params = path_params or any(d.query_params or d.header_params for d in tree)
    body = route.body_field is not None
    raw_body = "requestBody" in (route.openapi_extra or {})
    out: set[int] = set()
    if any(isinstance(s, ApiKeyAuth) for s in found):
        out.add(401)
        if any(isinstance(s, ApiKeyAuth) and s.needed != "storefront" for s in found):
            out.add(403)
    if any(isinstance(s, BuyerTokenAuth) and s.required for s in found):
        out |= {401, 403}
    if body:
        out |= {400, 422}
    if body or raw_body or params:
        out.add(422)
    if body or raw_body:
        out |= {408, 413}
    if body or raw_body or path_params:
        out.add(404)
    if method in MUTATING and (body or raw_body or path_params):
        out.add(409)
    return {status: MEANING[status] for status in sorted(out)}


def _amend_operation(route: RouteContext, method: str, op: dict[str, Any]) -> None:
    op.pop("security", None)
    if needs := security(route):
        op["security"] = needs
    responses: dict[str, Any] = op.setdefault("responses", {})
    for status, meaning in statuses(route, method).items():
        responses.setdefault(str(status), {"description": meaning})
    for code, response in responses.items():
        status = int(code) if code.isdigit() else 0
        if status < 400:
            continue
        if response.get("description") in _DEFAULT_DESCRIPTIONS or not response.get("description"):
            response["description"] = MEANING.get(status, "an error")
        if _own_model(response):
            continue
        ref = VALIDATION_PROBLEM_REF if status == 422 else PROBLEM_REF
        response["content"] = {PROBLEM: {"schema": ref}}
        if status == 401:
            response["headers"] = {
                "WWW-Authenticate": {
                    "description": "`Bearer`: the scheme to authenticate with",
                    "required": True,
                    "schema": {"type": "string"},
                }
            }
    op["responses"] = dict(sorted(responses.items()))


def _own_model(response: dict[str, Any]) -> bool:
    """Whether the route gave this error response a body of its own (not a problem)."""
    for media in response.get("content", {}).values():
        schema = media.get("schema") or {}
        if schema and schema.get("$ref") != "#/components/schemas/HTTPValidationError":
            return True
    return False

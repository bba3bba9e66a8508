"""The one place that maps errors to HTTP: RFC 9457 ``application/problem+json``.

Every problem has a stable ``code`` (the ``DroplineError.code``), a human ``detail``
and the error's extra fields (``sku_id``, ``remaining``...) so a storefront can act on it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from dropline.domain import errors as e
from dropline.domain.inputs import encodable

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"

STATUS: dict[type[e.DroplineError], int] = {
    e.NotFound: 404,
    e.InvalidInput: 422,
    e.Conflict: 409,
    e.StockError: 409,
    e.HoldExpired: 410,
    e.HoldNotActive: 409,
    e.HoldNotOwned: 403,
    e.DropNotLive: 409,
    e.WindowClosed: 403,
    e.RateLimited: 429,
    e.PaymentDeclined: 402,
    e.PaymentProviderError: 502,
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.InvalidToken: 403,
    e.InvalidSignature: 400,
    e.EngineUnavailable: 503,
    e.KeysUnavailable: 503,
}


# Stable codes of the HTTP-level refusals that come from the framework, not the domain.
HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
}


def status_for(exc: e.DroplineError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def problem_body(
    status: int, code: str, detail: str, instance: str = "", /, **extra: Any
) -> dict[str, Any]:
    """The RFC 9457 members of a problem. The leading parameters are positional-only so
    an error's extra field named like one of them (``status=<drop status>``) cannot clash
    with it; extras never overwrite the standard members."""
    body: dict[str, Any] = {
        "type": f"https://dropline.dev/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "code": code,
        "detail": _clean(detail),
    }
    if instance:
        body["instance"] = _clean(instance)
    body.update({k: _clean(v) for k, v in extra.items() if k not in body})
    return body


def problem_headers(status: int, exc: e.DroplineError | None = None) -> dict[str, str] | None:
    """Extra headers of a problem response: a 401 says which auth scheme to use; a
    refusal with ``retry_after_s`` (429 ``rate_limited``) says when in ``Retry-After``."""
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if exc is not None and "retry_after_s" in exc.extra:
        return {"Retry-After": str(exc.extra["retry_after_s"])}
    return None


def problem(
    status: int,
    code: str,
    detail: str,
    instance: str = "",
    /,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response (see ``problem_body``), with extra ``headers``."""
    return problem_response(status, problem_body(status, code, detail, instance, **extra), headers)


def problem_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    """``body`` as ``application/problem+json`` with the status's extra headers."""
    return JSONResponse(
        body,
        status_code=status,
        media_type=PROBLEM,
        headers=(problem_headers(status) or {}) | (headers or {}),
    )


MALFORMED_JSON = "the request body is not valid JSON (UTF-8 text)"


def allowed_methods(app: Any, path: str) -> str:
    """The ``Allow`` header of ``path``: the methods of the routes with the most specific
    template matching it (``/v1/webhook-deliveries/replay`` before ``.../{delivery_id}``),
    so it lists what the OpenAPI document lists for that path, not only the methods of
    the first route Starlette happened to try."""
    best: tuple[int, set[str]] | None = None
    for route in iter_route_contexts(app.routes):
        regex = getattr(route, "path_regex", None)
        if not route.methods or regex is None or not regex.match(path):
            continue
        params = (route.path_format or "").count("{")
        if best is None or params < best[0]:
            best = (params, set(route.methods))
        elif params == best[0]:
            best[1].update(route.methods)
    return ", ".join(sorted(best[1])) if best else ""


def domain_problem(exc: e.DroplineError, instance: str) -> tuple[int, dict[str, Any]]:
    """Status and problem body of a domain error: what both the FastAPI routes and the
    ASGI hot path (``api/hotpath.py``) answer for it."""
    status = status_for(exc)
    return status, problem_body(status, exc.code, exc.detail, instance, **_clean(exc.extra))


def internal_problem(instance: str) -> dict[str, Any]:
    """The body of a 500: nothing about the cause leaks to the caller (it is logged)."""
    return problem_body(500, "internal_error", "an unexpected error occurred", instance)


def _clean(value: Any) -> Any:
    """``value`` as JSON can carry it; a string that is not valid Unicode (a lone
    surrogate echoed from the input) gets ``\\udXXX`` escapes instead of crashing the
    encoder."""
    if isinstance(value, str):
        return value if encodable(value) else value.encode("utf-8", "backslashreplace").decode()
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(str(k)): _clean(v) for k, v in value.items()}
    return str(value)


def http_problem(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """The problem for a framework refusal (no such route, wrong method, a body FastAPI
    could not read, ...); a 405 says which methods the path takes (``Allow``)."""
    status, detail, headers = exc.status_code, str(exc.detail), dict(exc.headers or {})
    if status == 400 and exc.__cause__ is not None:
        # FastAPI's own 400 for a body it could not read as JSON (bad UTF-8, nesting
        # too deep): the same answer as any other malformed JSON body.
        return problem(400, "malformed_json", MALFORMED_JSON, request.url.path)
    if status == 405:
        headers["Allow"] = allowed_methods(request.app, request.url.path)
    code = HTTP_CODES.get(status, "http_error")
    return problem(status, code, detail, request.url.path, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(e.DroplineError)
    async def _domain(request: Request, exc: e.DroplineError) -> JSONResponse:
        status, body = domain_problem(exc, request.url.path)
        return problem_response(status, body, problem_headers(status, exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        if any(err.get("type") == "json_invalid" for err in errs):
            return problem(400, "malformed_json", MALFORMED_JSON, request.url.path)
        fields = [
            {"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg", "")} for err in errs
        ]
        first = fields[0] if fields else {"loc": [], "msg": "invalid request"}
        detail = f"{'.'.join(first['loc'][1:]) or 'request'}: {first['msg']}"
        return problem(422, "validation_error", detail, request.url.path, errors=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_problem(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(500, internal_problem(request.url.path))

"""``/ui`` readiness panel of a drop: the computed checklist, going live (with an
override reason when the enforced gate blocks), a signed test delivery to each
warehouse endpoint, and the dress rehearsal with its verdicts."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from dropline.api.deps import ContainerDep
from dropline.domain.errors import DroplineError
from dropline.domain.fulfilment.rules import event_matches
from dropline.domain.live.drops import DropStatus
from dropline.services.fulfilment.handoff import READY
from dropline.web.common import page, require_login, require_post

router = APIRouter(prefix="/ui", include_in_schema=False)


def _back(drop_id: str, message: str, level: str = "info") -> Response:
    return RedirectResponse(
        f"/ui/drops/{drop_id}/readiness?flash={quote(message)}&level={level}", status_code=303
    )


@router.get("/drops/{drop_id}/readiness")
async def readiness_page(drop_id: str, request: Request, c: ContainerDep) -> Response:
    s = await require_login(request, c)
    report = await c.readiness.checklist(drop_id)
    endpoints = [
        e
        for e in await c.webhooks.list_endpoints()
        if e["enabled"] and e["warehouse"] and event_matches(e["event_types"], READY)
    ]
    rehearsals = await c.rehearsals.history(drop_id)
    return page(
        request,
        "readiness.html",
        s,
        report=report,
        endpoints=endpoints,
        rehearsals=rehearsals,
        can_go_live=report["drop"]["status"] == DropStatus.SCHEDULED.value,
        can_rehearse=report["drop"]["status"] in ("draft", "scheduled"),
    )


@router.post("/drops/{drop_id}/readiness/go-live")
async def go_live(
    drop_id: str,
    request: Request,
    c: ContainerDep,
    override_reason: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    s = await require_post(request, c, csrf_token)
    try:
        await c.drops.transition(
            drop_id, DropStatus.LIVE, actor=s.name, override_reason=override_reason
        )
    except DroplineError as exc:
        return _back(drop_id, exc.detail, "error")
    return RedirectResponse(f"/ui/drops/{drop_id}?flash={quote('drop is now live')}", 303)


@router.post("/drops/{drop_id}/readiness/test/{endpoint_id}")
async def send_test_delivery(
    drop_id: str,
    endpoint_id: str,
    request: Request,
    c: ContainerDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    s = await require_post(request, c, csrf_token)
    try:
        r = await c.readiness.send_test_delivery(endpoint_id, s.name)
    except DroplineError as exc:
        return _back(drop_id, exc.detail, "error")
    answer = r["status_code"] if r["status_code"] is not None else r["error"] or "nothing"
    return _back(drop_id, f"{r['url']} answered {answer}", "info" if r["ok"] else "error")


@router.post("/drops/{drop_id}/rehearse")
async def rehearse(
    drop_id: str,
    request: Request,
    c: ContainerDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Run the dress rehearsal now (it takes seconds) and come back to its verdict."""
    s = await require_post(request, c, csrf_token)
    try:
        result = await c.rehearsals.run(drop_id, actor=s.name)
    except DroplineError as exc:
        return _back(drop_id, exc.detail, "error")
    if result["status"] == "passed":
        return _back(drop_id, f"rehearsal {result['id']} passed")
    return _back(drop_id, f"rehearsal {result['id']} failed at {result['failed_stage']}", "error")

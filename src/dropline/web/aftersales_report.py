"""The buyer's problem-report page: the signed link in the delivered message opens it.

No login and no API key: the signed token (``services.aftersales.problem_links``) is the
credential, carried in the link and in the form's hidden field, so a form posted from
another site without it does nothing. The page shows the order's lines and the reason
taxonomy by group, takes a note and photos (type and size checked by the same rules as
the API, before anything is stored), and answers with a confirmation page; an expired,
forged or another buyer's link gets a page that says so. The JSON API for the creator's
site (``/v1/problem-links/report``, ``/v1/orders/{id}/problems``) stays as it is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from dropline.api.deps import ContainerDep
from dropline.bootstrap import Container
from dropline.domain.aftersales.problems import (
    MAX_FORM_BYTES,
    MAX_NOTE,
    MAX_PHOTO_BYTES,
    MAX_PHOTOS,
    PHOTO_TYPES,
    REASONS,
    TAXONOMY,
)
from dropline.domain.errors import DroplineError, Forbidden, InvalidInput, InvalidToken, NotFound
from dropline.services.aftersales.problems import PhotoUpload, ReportedLine
from dropline.web.render import env

router = APIRouter(prefix="/ui", include_in_schema=False)

PATH = "/ui/report-problem"


def _grouped() -> list[tuple[str, list[Any]]]:
    groups: dict[str, list[Any]] = {}
    for r in TAXONOMY:
        groups.setdefault(r.group.value.replace("_", " "), []).append(r)
    return list(groups.items())


def _render(template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    html = env().get_template(template).render(**ctx)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _link_error(exc: DroplineError) -> HTMLResponse:
    """The page for a link that cannot be used: what happened and what to do."""
    if isinstance(exc, InvalidToken):
        expired = "expired" in exc.detail
        title = "This link has expired" if expired else "This link is not valid"
        text = (
            "The return window of this order is closed, so a problem can no longer be "
            "reported here. Reply to your delivery message to reach the shop."
            if expired
            else "The link is incomplete or was changed. Open it again from your delivery "
            "message, or copy the whole address."
        )
        return _render("buyer_link_error.html", 403, title=title, text=text, code=exc.code)
    if isinstance(exc, Forbidden):
        return _render(
            "buyer_link_error.html",
            403,
            title="This link is for another order",
            text="The link does not belong to this order's buyer. Use the link in your own "
            "delivery message.",
            code=exc.code,
        )
    return _render(
        "buyer_link_error.html",
        404,
        title="Order not found",
        text="The order of this link no longer exists. Reply to your delivery message.",
        code=exc.code,
    )


def _form_ctx(token: str, order: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "token": token,
        "order": order,
        "groups": _grouped(),
        "accept": ",".join(PHOTO_TYPES),
        "max_photos": MAX_PHOTOS,
        "max_photo_bytes": MAX_PHOTO_BYTES,
        "max_mib": MAX_PHOTO_BYTES // (1024 * 1024),
        "max_note": MAX_NOTE,
        "error": None,
        "chosen": {"reason": "", "note": "", "qty": {}},
        **extra,
    }


@router.get("/report-problem")
async def report_form(request: Request, c: ContainerDep, token: str = "") -> Response:
    """The form: the order's lines (how many units of each), the reason by group, a note
    and photos."""
    try:
        order = await c.problems.link_order(token)
    except (InvalidToken, Forbidden, NotFound) as exc:
        return _link_error(exc)
    return _render("buyer_report.html", **_form_ctx(token, order))


def _lines(form: FormData) -> list[ReportedLine]:
    out = []
    for key, value in form.multi_items():
        if not key.startswith("qty_") or not key[4:].isdigit() or isinstance(value, UploadFile):
            continue
        text = value.strip()
        if text in ("", "0"):
            continue
        if not text.isdigit() or len(text) > 6:
            raise InvalidInput("a quantity is a whole number of units", field="lines")
        out.append(ReportedLine(int(key[4:]), int(text)))
    return out


async def _photos(form: FormData) -> list[PhotoUpload]:
    files = [
        f for f in form.getlist("photos") if isinstance(f, UploadFile) and (f.filename or f.size)
    ]
    if len(files) > MAX_PHOTOS:
        raise InvalidInput(f"at most {MAX_PHOTOS} photos", field="photos")
    out = []
    for f in files:
        data = await f.read(MAX_PHOTO_BYTES + 1)  # one byte more shows it is too large
        out.append(PhotoUpload(data, f.content_type or "", f.filename or ""))
    return out


@router.post("/report-problem", max_body_size=MAX_FORM_BYTES)
async def report_submit(
    request: Request,
    c: ContainerDep,
    token: Annotated[str, Form(max_length=2000)] = "",
    reason: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=MAX_NOTE + 200)] = "",
) -> Response:
    """Store the report and show the confirmation; a bad report shows the form again
    with what to fix (422) and stores nothing. The declared fields make FastAPI parse
    the form first, so text the database cannot store (a NUL) is refused before this
    runs, as on every /ui form; the quantities and photos are read from that form."""
    form = await request.form()  # parsed once already: this is the same form
    try:
        return await _submit(c, form)
    finally:
        await form.close()


async def _submit(c: Container, form: FormData) -> Response:
    token = str(form.get("token") or "")
    try:
        order = await c.problems.link_order(token)
    except (InvalidToken, Forbidden, NotFound) as exc:
        return _link_error(exc)
    reason = str(form.get("reason") or "")
    note = str(form.get("note") or "").replace("\r\n", "\n").strip()
    chosen = {
        "reason": reason,
        "note": note,
        "qty": {k[4:]: str(v) for k, v in form.multi_items() if k.startswith("qty_")},
    }
    try:
        if not reason:
            raise InvalidInput("choose what is wrong", field="reason")
        lines = _lines(form)
        photos = await _photos(form)
        report = await c.problems.report_via_link(token, lines, reason, note, photos)
    except (InvalidToken, Forbidden, NotFound) as exc:
        return _link_error(exc)
    except DroplineError as exc:
        ctx = _form_ctx(token, order, error=exc.detail, chosen=chosen)
        return _render("buyer_report.html", 422, **ctx)
    described = {ln["line_no"]: ln["description"] for ln in order["lines"]}
    return _render(
        "buyer_report_done.html",
        report=report,
        order=order,
        reason=REASONS[report["reason_code"]],
        described=described,
    )

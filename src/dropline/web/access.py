"""``/ui`` a drop's access windows and rate limits: the two forms of the panel on the
drop's setup page (``templates/_access_panel.html``, filled by ``web/drop_setup.py``).
Times are typed in UTC."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dropline.api.deps import ContainerDep
from dropline.bootstrap import Container
from dropline.domain.errors import DroplineError, InvalidInput
from dropline.domain.live.access import AccessWindow
from dropline.domain.live.rate_limits import RateLimits
from dropline.web.common import Csrf, back, form_time, require_post

router = APIRouter(prefix="/ui", include_in_schema=False)

LIMIT_FIELDS = (
    "holds_per_buyer",
    "holds_per_address",
    "checkouts_per_buyer",
    "checkouts_per_address",
    "token_max_age_s",
)


def _int(value: str, what: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"{what} is a whole number")
    return int(value)


def _alloc(text: str, codes: dict[str, str]) -> dict[str, int] | None:
    """``TEE-M: 20, TEE-L: 20`` (codes or ids); empty is None: every unit left."""
    if not text.strip():
        return None
    out: dict[str, int] = {}
    for item in (x for x in text.split(",") if x.strip()):
        ref, colon, n = item.rpartition(":")
        count = _int(n, f"the units of {ref.strip() or item.strip()}")
        if not colon or count is None:
            raise InvalidInput(f"{item.strip()!r}: write SKU: UNITS, e.g. TEE-M: 20")
        out[codes.get(ref.strip(), ref.strip())] = count
    return out


async def _codes(c: Container, drop_id: str) -> dict[str, str]:
    """SKU code → id for the drop's offers."""
    catalog = await c.drops.cache.get(drop_id)
    return {catalog.skus[s].code: s for s in catalog.offers if s in catalog.skus}


@router.post("/drops/{drop_id}/access/windows")
async def save_windows(
    drop_id: str, request: Request, c: ContainerDep, csrf_token: Csrf = ""
) -> Response:
    """``starts_N`` (UTC), ``name_N``, ``tiers_N`` (comma-separated; ``*`` any member;
    empty the public) and ``alloc_N`` per row; a row without a start is left out."""
    await require_post(request, c, csrf_token)
    form = await request.form()
    to = f"/ui/drops/{drop_id}/setup"
    try:
        codes = await _codes(c, drop_id)
        windows = []
        for n in range(50):
            starts = str(form.get(f"starts_{n}", "")).strip()
            if f"starts_{n}" not in form:
                break
            dt = form_time(starts, f"starts_{n}")
            if dt is None:  # an empty row of the form
                continue
            at = dt.timestamp()
            tiers = tuple(
                t.strip() for t in str(form.get(f"tiers_{n}", "")).split(",") if t.strip()
            )
            alloc = _alloc(str(form.get(f"alloc_{n}", "")), codes)
            name = str(form.get(f"name_{n}", "")).strip()[:80]
            windows.append(AccessWindow(at, tiers, alloc, name))
        await c.access_windows.set_windows(drop_id, windows)
    except DroplineError as exc:
        return back(to, f"{exc.detail} ({exc.code})", "error")
    return back(to, f"access windows saved ({len(windows)})")


@router.post("/drops/{drop_id}/access/limits")
async def save_limits(
    drop_id: str, request: Request, c: ContainerDep, csrf_token: Csrf = ""
) -> Response:
    """The five limits; an empty field is no limit."""
    await require_post(request, c, csrf_token)
    form = await request.form()
    to = f"/ui/drops/{drop_id}/setup"
    try:
        values = {k: _int(str(form.get(k, "")), k.replace("_", " ")) for k in LIMIT_FIELDS}
        await c.access_windows.set_limits(drop_id, RateLimits(**values))
    except DroplineError as exc:
        return back(to, f"{exc.detail} ({exc.code})", "error")
    return back(to, "rate limits saved")

"""The buyer's problem-report page over real HTTP (the app through httpx): the link in
the delivered message opens an HTML form, a multipart post stores the report and shows
a confirmation; bad photos and missing ones show the form again and store nothing;
expired, forged and another buyer's links get a page that says so. CSP-clean: the
page's only script is a static file."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from test_problem_reports import JPEG, delivered, link_token

from dropline.bootstrap import Container
from dropline.services.ports import ManualClock


@pytest.fixture(autouse=True)
def _photos_in_tmp(container: Container, tmp_path: Any) -> None:
    container.problems.data_dir = tmp_path / "data"


def buyer(api: httpx.AsyncClient) -> dict[str, str]:
    return {"Authorization": ""}  # a buyer has no API key: the link is the credential


async def open_link(c: Container, order_id: str) -> str:
    [msg] = await c.messages.list(order_id=order_id, kind="delivered")
    assert "/ui/report-problem?token=" in msg["html_body"]
    return link_token(msg["text_body"])


async def test_the_link_opens_a_form_and_a_report_ends_in_a_confirmation(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    _, order = await delivered(c, "ann")
    token = await open_link(c, order.id)
    api.headers.pop("Authorization")
    page = await api.get("/ui/report-problem", params={"token": token})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    html = page.text
    assert "<script>" not in html and 'src="/ui/static/problem.js"' in html
    assert re.search(r'<optgroup label="Manufacturing">', html)
    assert 'value="stitching" data-photos="required"' in html
    assert 'name="qty_1"' in html and order.number in html

    resp = await api.post(
        "/ui/report-problem",
        data={"token": token, "qty_1": "1", "reason": "stitching", "note": "seam split"},
        files=[("photos", ("seam.jpg", JPEG, "image/jpeg"))],
    )
    assert resp.status_code == 200, resp.text
    assert "your report is in" in resp.text
    [p] = await c.problems.list()
    assert (p["via"], p["buyer_id"], p["reason_code"], p["note"]) == (
        "link", "ann", "stitching", "seam split"
    )  # fmt: skip
    assert p["id"] in resp.text
    assert [ln["quantity"] for ln in p["lines"]] == [1]
    assert [(ph["content_type"], ph["size"], ph["filename"]) for ph in p["photos"]] == [
        ("image/jpeg", len(JPEG), "seam.jpg")
    ]
    # The ops lead sees the photo the buyer uploaded, byte for byte.
    data, media_type = await c.problems.photo(p["id"], p["photos"][0]["id"])
    assert (data, media_type) == (JPEG, "image/jpeg")


@pytest.mark.parametrize(
    ("fields", "files", "says"),
    [
        ({"reason": "stitching"}, [], "needs at least one photo"),
        (
            {"reason": "stitching"},
            [("photos", ("a.jpg", b"not an image", "image/jpeg"))],
            "not a image/jpeg",
        ),
        (
            {"reason": "stitching"},
            [("photos", ("a.gif", b"GIF89a", "image/gif"))],
            "must be one of",
        ),
        (
            {"reason": "stitching"},
            [("photos", ("big.jpg", b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024), "image/jpeg"))],
            "between 1 byte and 5 MiB",
        ),
        ({"reason": ""}, [], "choose what is wrong"),
        ({"reason": "too_small", "qty_1": "0"}, [], "at least one order line"),
        ({"reason": "too_small", "qty_1": "3"}, [], "between 1 and 2"),
        ({"reason": "too_small", "qty_1": "x"}, [], "whole number"),
    ],
)
async def test_a_bad_report_shows_the_form_again_and_stores_nothing(
    container: Container,
    api: httpx.AsyncClient,
    fields: dict[str, str],
    files: list[Any],
    says: str,
) -> None:
    c = container
    _, order = await delivered(c, "ann")
    token = await open_link(c, order.id)
    api.headers.pop("Authorization")
    data = {"token": token, "qty_1": "1", "note": "kept"} | fields
    resp = await api.post("/ui/report-problem", data=data, files=files or None)
    assert resp.status_code == 422, resp.text
    assert says in resp.text and 'id="problem-form"' in resp.text
    assert ">kept</textarea>" in resp.text  # what the buyer typed is kept
    assert await c.problems.list() == []


async def test_expired_forged_and_foreign_links_get_a_page_that_says_so(
    container: Container, api: httpx.AsyncClient, clock: ManualClock
) -> None:
    c = container
    _, order = await delivered(c, "ann", qty=1)
    token = await open_link(c, order.id)
    api.headers.pop("Authorization")
    async with c.uow(readonly=True) as uow:
        ship_row = await uow.shipments.for_order(order.id)
    assert ship_row is not None
    foreign = c.problems.links.token(order.id, "bob", ship_row["delivered_at"] + timedelta(days=1))
    forged = token[:-1] + ("A" if not token.endswith("A") else "B")
    cases = [(foreign, "another order"), (forged, "not valid"), ("", "not valid")]
    for tok, title in cases:
        got = await api.get("/ui/report-problem", params={"token": tok})
        assert got.status_code == 403 and title in got.text, got.text
        assert got.headers["content-type"].startswith("text/html")
        posted = await api.post(
            "/ui/report-problem", data={"token": tok, "qty_1": "1", "reason": "too_small"}
        )
        assert posted.status_code == 403 and title in posted.text
    clock.advance(timedelta(days=30, seconds=1).total_seconds())
    got = await api.get("/ui/report-problem", params={"token": token})
    assert got.status_code == 403 and "expired" in got.text
    posted = await api.post(
        "/ui/report-problem", data={"token": token, "qty_1": "1", "reason": "too_small"}
    )
    assert posted.status_code == 403 and "expired" in posted.text
    assert await c.problems.list() == []

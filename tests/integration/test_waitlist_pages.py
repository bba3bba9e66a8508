"""The console's waitlist and restock waves page (/ui/drops/<id>/waitlist) on both
backends: the line's order and claim window saved and shown; each SKU's demand; waves
planned (now, later, from a source), listed with what they did and cancelled; the
second wave of an ended drop with its end; every refusal shown as the flash message
with its code, nothing changed; login and the CSRF token required."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.domain.live.drops import DropStatus
from dropline.services.ports import ManualClock
from dropline.web.render import exact_time
from support import seed_shop, sku_item


@pytest.fixture
async def ui(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """Not logged in yet: ``login`` below."""
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def login(http: httpx.AsyncClient, c: Container) -> None:
    key, _ = await c.access.create_key("ops lead", "ops")
    token = csrf((await http.get("/ui/login")).text)
    r = await http.post("/ui/login", data={"api_key": key, "csrf_token": token})
    assert r.status_code == 303


def csrf(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


async def post(http: httpx.AsyncClient, page: str, action: str, data: dict[str, str]) -> str:
    """Send a form of ``page`` with its CSRF token; the flash message it came back with,
    as ``level: text``."""
    r = await http.post(action, data={"csrf_token": csrf((await http.get(page)).text), **data})
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(page + "?flash=")
    back = await http.get(r.headers["location"])
    assert back.status_code == 200 and "Traceback" not in back.text
    found = re.search(r'<p class="flash (\w+)" role="status">(.*?)</p>', back.text)
    assert found, back.text[-2000:]
    return html.unescape(f"{found.group(1)}: {found.group(2)}")


def local(ts: float) -> str:
    """What a ``datetime-local`` field sends for ``ts`` (UTC, to the minute)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M")


def minute(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(second=0, microsecond=0)


def cell(page: str, row: str, field: str) -> str:
    """The text of ``data-f=field`` in the row tagged ``row`` (``data-sku="..."``)."""
    part = page.split(row, 1)[1].split("</tr>", 1)[0]
    found = re.search(rf'data-f="{field}">(?:<strong>)?([^<]*)<', part)
    assert found, part
    return found.group(1)


async def test_login_and_the_csrf_token_are_required(
    ui: httpx.AsyncClient, container: Container
) -> None:
    shop = await seed_shop(container, units=3)
    page = f"/ui/drops/{shop.drop_id}/waitlist"
    actions = {
        f"/ui/drops/{shop.drop_id}/waitlist/settings": {"order": "draw", "claim_window_s": "60"},
        f"/ui/drops/{shop.drop_id}/restocks": {"sku_id": shop.skus[0], "quantity": "1"},
    }
    r = await ui.get(page)
    assert r.status_code == 303 and r.headers["location"] == f"/ui/login?next={page}"
    for action, data in actions.items():
        r = await ui.post(action, data=data)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    await login(ui, container)
    assert (await ui.get(page)).status_code == 200
    for action, data in actions.items():
        assert (await ui.post(action, data=data)).status_code == 403  # no token
        r = await ui.post(action, data={"csrf_token": "forged", **data})
        assert r.status_code == 403 and "did not come from this site" in r.text
    settings = await container.waitlist.settings(shop.drop_id)
    assert (settings["order"], settings["claim_window_s"]) == ("fifo", 600)
    assert await container.restocks.waves(shop.drop_id) == []
    assert (await ui.get("/ui/drops/drp_nope/waitlist")).status_code == 404
    # reached from the drop's setup page and its monitor
    for linked in (f"/ui/drops/{shop.drop_id}/setup", f"/ui/drops/{shop.drop_id}"):
        assert f'href="{page}"' in (await ui.get(linked)).text


async def test_line_order_and_claim_window(ui: httpx.AsyncClient, container: Container) -> None:
    shop = await seed_shop(container, units=3, live=False)
    await login(ui, container)
    page = f"/ui/drops/{shop.drop_id}/waitlist"
    action = f"/ui/drops/{shop.drop_id}/waitlist/settings"
    shown = (await ui.get(page)).text
    assert '<option value="fifo" selected>' in shown and 'value="600"' in shown

    saved = await post(ui, page, action, {"order": "draw", "claim_window_s": "120"})
    assert saved == "info: waitlist saved: draw order, claim window 120 s"
    settings = await container.waitlist.settings(shop.drop_id)
    assert (settings["order"], settings["claim_window_s"]) == ("draw", 120)
    shown = (await ui.get(page)).text
    assert '<option value="draw" selected>' in shown and 'name="claim_window_s"' in shown
    assert 'value="120"' in shown

    refused = {
        "claim_window_s must be between 30 and 86400 (validation_error)": "10",
        "the claim window is a whole number (validation_error)": "ten minutes",
    }
    for flash, window in refused.items():
        assert await post(ui, page, action, {"order": "fifo", "claim_window_s": window}) == (
            f"error: {flash}"
        )
    lottery = await post(ui, page, action, {"order": "lottery", "claim_window_s": "60"})
    assert lottery == "error: the line order is fifo or draw (validation_error)"
    settings = await container.waitlist.settings(shop.drop_id)
    assert (settings["order"], settings["claim_window_s"]) == ("draw", 120)


async def test_demand_per_sku(ui: httpx.AsyncClient, container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=1, skus=2)
    sku, other = shop.skus
    await login(ui, c)
    page = f"/ui/drops/{shop.drop_id}/waitlist"
    assert 'id="no-demand"' in (await ui.get(page)).text
    await c.holds.place(shop.drop_id, "early", [sku_item(sku)])  # the last unit
    for buyer in ("ann", "bo", "cy"):
        await c.waitlist.join(shop.drop_id, sku, buyer)
    await c.waitlist.leave(shop.drop_id, sku, "cy")
    shown = (await ui.get(page)).text
    row = f'<tr data-sku="{sku}">'
    counts = {f: cell(shown, row, f) for f in ("joined", "waiting", "left", "unserved")}
    assert counts == {"joined": "3", "waiting": "2", "left": "1", "unserved": "3"}
    assert cell(shown, row, "claimed") == "0" and f'<tr data-sku="{other}">' not in shown
    label = (await c.drops.cache.get(shop.drop_id)).describe_sku(sku)
    assert f"<strong>{label}</strong>" in shown.split(row, 1)[1]


async def test_plan_list_and_cancel_waves_of_a_live_drop(
    ui: httpx.AsyncClient, container: Container, clock: ManualClock
) -> None:
    c = container
    shop = await seed_shop(c, units=2, received=6)  # 4 left available to restock with
    sku = shop.skus[0]
    await login(ui, c)
    page = f"/ui/drops/{shop.drop_id}/waitlist"
    action = f"/ui/drops/{shop.drop_id}/restocks"
    shown = (await ui.get(page)).text
    assert 'id="wave-form"' in shown and f'<option value="{sku}">' in shown
    assert 'name="ends_at"' not in shown and 'id="reopens-note"' not in shown
    label = (await c.drops.cache.get(shop.drop_id)).describe_sku(sku)

    later = clock.now() + 3600
    planned = await post(ui, page, action, {"sku_id": sku, "quantity": "2", "at": local(later)})
    assert planned == f"info: restock wave planned: 2 × {label} at {exact_time(minute(later))}"
    now = await post(ui, page, action, {"sku_id": sku, "quantity": "1", "at": ""})
    assert now == f"info: restock wave planned: 1 × {label} at {exact_time(clock.now())}"
    waves = await c.restocks.waves(shop.drop_id)
    assert [(w["quantity"], w["status"]) for w in waves] == [(1, "scheduled"), (2, "scheduled")]
    assert datetime.fromisoformat(waves[1]["at"]) == minute(later)
    assert await c.restocks.run_once() == [waves[0]["id"]]  # the one due now
    due, scheduled = waves[0]["id"], waves[1]["id"]

    shown = (await ui.get(page)).text
    done_row, later_row = f'<tr data-wave="{due}">', f'<tr data-wave="{scheduled}">'
    assert cell(shown, done_row, "status") == "done" and cell(shown, done_row, "on_sale") == "1"
    assert cell(shown, later_row, "status") == "scheduled"
    assert cell(shown, later_row, "on_sale") == "—"
    assert exact_time(minute(later)) in shown.split(later_row, 1)[1].split("</tr>", 1)[0]
    assert f"/restocks/{scheduled}/cancel" in shown and f"/restocks/{due}/cancel" not in shown

    refusals = {
        "quantity must be between 1 and 10,000,000 (validation_error)": {"quantity": "0"},
        "the quantity is a whole number (validation_error)": {"quantity": "two"},
        "at is in the past; leave it out to restock now (validation_error)": {
            "at": local(clock.now() - 3600)
        },
        "'tomorrow' is not a date and time (validation_error)": {"at": "tomorrow"},
        "production run run_nope not found (not_found)": {
            "source_kind": "run",
            "source_id": "run_nope",
        },
        "source_kind and source_id go together (validation_error)": {"source_kind": "lot"},
        "ends_at is only for a wave that reopens an ended drop; a live or paused drop ends "
        "by its own schedule or by hand (validation_error)": {"ends_at": local(later)},
        "SKU sku_nope is not offered in this drop (not_found)": {"sku_id": "sku_nope"},
        "choose the SKU to restock (validation_error)": {"sku_id": ""},
    }
    for flash, data in refusals.items():
        sent = {"sku_id": sku, "quantity": "1", "at": ""} | data
        assert await post(ui, page, action, sent) == f"error: {flash}", data
    assert len(await c.restocks.waves(shop.drop_id)) == 2  # nothing planned

    cancel = f"/ui/drops/{shop.drop_id}/restocks/{{}}/cancel"
    done = await post(ui, page, cancel.format(scheduled), {})
    assert done == f"info: restock wave {scheduled} cancelled"
    again = await post(ui, page, cancel.format(scheduled), {})
    assert again == "error: the wave is cancelled, not scheduled (conflict)"
    ran = await post(ui, page, cancel.format(due), {})
    assert ran == "error: the wave is done, not scheduled (conflict)"
    statuses = {w["id"]: w["status"] for w in await c.restocks.waves(shop.drop_id)}
    assert statuses == {due: "done", scheduled: "cancelled"}
    assert "/cancel" not in (await ui.get(page)).text.split('id="wave-table"', 1)[1]

    # a wave of another drop is not cancelled through this drop's page
    other = await seed_shop(c, units=1, received=2)
    theirs = await c.restocks.schedule(other.drop_id, other.skus[0], 1, minute(later))
    refused = await post(ui, page, cancel.format(theirs["id"]), {})
    assert refused == f"error: restock wave {theirs['id']} is not one of this drop's (not_found)"
    assert (await c.restocks.waves(other.drop_id))[0]["status"] == "scheduled"


async def test_the_second_wave_of_an_ended_drop(
    ui: httpx.AsyncClient, container: Container, clock: ManualClock
) -> None:
    c = container
    shop = await seed_shop(c, units=2)
    sku = shop.skus[0]
    await c.drops.transition(shop.drop_id, DropStatus.ENDED)
    await c.stock.receive(sku, 3)
    await login(ui, c)
    page = f"/ui/drops/{shop.drop_id}/waitlist"
    action = f"/ui/drops/{shop.drop_id}/restocks"
    shown = (await ui.get(page)).text
    assert "this wave reopens it at its time" in shown
    assert 'name="ends_at"' in shown and 'id="r-ends" value=""' in shown

    at, end = clock.now() + 600, clock.now() + 7200
    sent = {"sku_id": sku, "quantity": "2", "at": local(at), "ends_at": local(end)}
    planned = await post(ui, page, action, sent)
    assert planned.startswith("info: restock wave planned: 2 × ")
    assert planned.endswith(f"at {exact_time(minute(at))} (reopens the drop)")
    [wave] = await c.restocks.waves(shop.drop_id)
    assert wave["reopens"] and datetime.fromisoformat(wave["ends_at"]) == minute(end)
    shown = (await ui.get(page)).text
    row = shown.split(f'<tr data-wave="{wave["id"]}">', 1)[1].split("</tr>", 1)[0]
    assert f"reopens the drop until {exact_time(minute(end))}" in row
    assert f'id="r-ends" value="{local(end)}"' in shown  # the next SKU's wave ends with it

    unlike = sent | {"quantity": "1", "ends_at": local(end + 3600)}
    refused = await post(ui, page, action, unlike)
    assert refused.startswith("error: another wave already planned") and "(validation_error)" in (
        refused
    )
    early = await post(ui, page, action, sent | {"ends_at": local(at - 60)})
    assert early == "error: ends_at must be after the wave's time (at) and now (validation_error)"
    assert len(await c.restocks.waves(shop.drop_id)) == 1
    assert (await c.drops.get(shop.drop_id))[0].status is DropStatus.ENDED


async def test_a_drop_before_it_opens_takes_no_waves(
    ui: httpx.AsyncClient, container: Container
) -> None:
    shop = await seed_shop(container, units=2, received=4, live=False)
    await login(ui, container)
    page = f"/ui/drops/{shop.drop_id}/waitlist"
    shown = (await ui.get(page)).text
    assert 'id="wave-form"' not in shown and "raise the offer" in shown
    sent = {"sku_id": shop.skus[0], "quantity": "1"}
    refused = await post(ui, page, f"/ui/drops/{shop.drop_id}/restocks", sent)
    assert refused.startswith("error: the drop is draft: restock waves add units")
    assert refused.endswith("(conflict)")

"""A live drop against a real server process over real HTTP: the flash-sale burst, a
bundle racing a single-SKU line for a shared component, and a SIGKILL in the middle of
a drop followed by a restart on the same database."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from e2e.server import Crowd, DroplineServer, SeededDrop, seed_drop

pytestmark = pytest.mark.e2e

VISA = "4242424242424242"
PROBLEM = "application/problem+json"


@asynccontextmanager
async def http(server: DroplineServer, clients: int = 10, each: int = 10) -> AsyncIterator[Crowd]:
    """Up to ``clients * each`` requests in flight over as many sockets; thousands of
    calls fired with asyncio.gather wait their turn instead of exhausting descriptors."""
    async with Crowd(server.base_url, clients=clients, connections=each) as crowd:
        yield crowd


def buyer_headers(server: DroplineServer, shop: SeededDrop, buyer: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {shop.storefront_key}",
        "X-Buyer-Token": server.buyer_token(buyer),
    }


async def place(
    client: Crowd,
    server: DroplineServer,
    shop: SeededDrop,
    buyer: str,
    item: dict[str, Any],
) -> httpx.Response:
    return await client.post(
        f"/v1/drops/{shop.drop_id}/holds",
        json={"items": [item]},
        headers=buyer_headers(server, shop, buyer),
    )


async def stock_levels(client: Crowd, server: DroplineServer) -> dict[str, Any]:
    resp = await client.get("/v1/stock", headers=server.admin_headers())
    assert resp.status_code == 200
    return {lv["sku_id"]: lv for lv in resp.json()}


async def public_remaining(
    client: Crowd, shop: SeededDrop
) -> tuple[dict[str, int], dict[str, int]]:
    """Remaining units per SKU and per bundle, as the storefront sees them."""
    resp = await client.get(
        f"/v1/drops/{shop.drop_id}/public",
        headers={"Authorization": f"Bearer {shop.storefront_key}"},
    )
    assert resp.status_code == 200, resp.text
    view = resp.json()
    skus = {s["id"]: s["remaining"] for p in view["products"] for s in p["skus"]}
    return skus, {b["id"]: b["remaining"] for b in view["bundles"]}


async def offers(
    client: Crowd, server: DroplineServer, shop: SeededDrop
) -> dict[str, dict[str, Any]]:
    resp = await client.get(f"/v1/drops/{shop.drop_id}", headers=server.admin_headers())
    assert resp.status_code == 200, resp.text
    return {o["sku_id"]: o for o in resp.json()["offers"]}


def assert_sold_out_problem(resp: httpx.Response, sku_id: str) -> None:
    assert resp.status_code == 409, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["code"] == "sold_out" and body["sku_id"] == sku_id


# --------------------------------------------------------------------------- bursts


async def test_2000_concurrent_holds_for_100_units(server: DroplineServer) -> None:
    async with http(server) as client:
        shop = await seed_drop(client, server.admin_key, skus={"tee": 100})
        tee = shop.skus["tee"]
        before = await stock_levels(client, server)
        responses = await asyncio.gather(
            *(place(client, server, shop, f"fan-{n}", {"sku_id": tee}) for n in range(2000))
        )
        after = await stock_levels(client, server)
        remaining, _ = await public_remaining(client, shop)
        sold = await offers(client, server, shop)

    assert Counter(r.status_code for r in responses) == {201: 100, 409: 1900}
    winners = [r.json() for r in responses if r.status_code == 201]
    for r in responses:
        if r.status_code == 409:
            assert_sold_out_problem(r, tee)
    assert len({h["id"] for h in winners}) == 100
    assert len({h["buyer_id"] for h in winners}) == 100
    assert all(h["units"] == {tee: 1} and h["status"] == "active" for h in winners)
    assert remaining == {tee: 0}
    # Holds live in the engine only: the ledger has not moved.
    assert after == before
    assert before[tee]["reserved"] == 100 and before[tee]["available"] == 0
    assert sold[tee]["sold"] == 0 and sold[tee]["offered"] == 100


async def test_bundle_and_single_line_race_for_a_shared_component(
    server: DroplineServer,
) -> None:
    async with http(server) as client:
        shop = await seed_drop(
            client,
            server.admin_key,
            skus={"a": 100, "b": 1000},
            bundles={"ab": {"a": 1, "b": 1}},
        )
        a, b, ab = shop.skus["a"], shop.skus["b"], shop.bundles["ab"]
        before = await stock_levels(client, server)
        # Interleaved so both kinds are in flight together from the first request on.
        items = [{"bundle_id": ab} if n % 2 else {"sku_id": a} for n in range(2000)]
        responses = await asyncio.gather(
            *(place(client, server, shop, f"fan-{n}", it) for n, it in enumerate(items))
        )
        after = await stock_levels(client, server)
        remaining, bundle_remaining = await public_remaining(client, shop)

    won = [(it, r.json()) for it, r in zip(items, responses, strict=True) if r.status_code == 201]
    bundle_wins = sum(1 for it, _ in won if "bundle_id" in it)
    single_wins = len(won) - bundle_wins
    assert Counter(r.status_code for r in responses) == {201: 100, 409: 1900}
    for r in responses:
        if r.status_code == 409:
            assert_sold_out_problem(r, a)  # B never runs out; A is what is contested
    taken_a = sum(h["units"].get(a, 0) for _, h in won)
    taken_b = sum(h["units"].get(b, 0) for _, h in won)
    assert taken_a == 100
    assert taken_b == bundle_wins
    assert bundle_wins > 0 and single_wins > 0
    assert all(h["units"] == {a: 1, b: 1} for it, h in won if "bundle_id" in it)
    assert remaining == {a: 0, b: 1000 - bundle_wins}
    assert bundle_remaining == {ab: 0}
    assert after == before


# --------------------------------------------------------------------------- crash


@dataclass
class Outcomes:
    """What the client saw, per buyer."""

    paid_orders: dict[str, str] = field(default_factory=dict)  # order id → hold id
    kept_holds: list[tuple[str, str]] = field(default_factory=list)  # (hold, buyer), unpaid
    refused: Counter[str] = field(default_factory=Counter)
    cut_off: int = 0  # the connection died under the request


def db_rows(server: DroplineServer, sql: str, *args: Any) -> list[sqlite3.Row]:
    """Read the server's SQLite file directly (read-only, WAL-safe)."""
    assert server.db_path is not None
    with closing(sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql, args))


async def wait_for(
    what: str, check: Callable[[], bool], timeout_s: float = 20.0, every_s: float = 0.1
) -> None:
    """Poll ``check`` until true; fail after ``timeout_s`` (a bound, not a timing claim)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(every_s)


def recovery_done(server: DroplineServer) -> bool:
    """No checkout left half-way and no payment authorised but neither captured nor
    given back."""
    pending: int = db_rows(
        server,
        "SELECT count(*) FROM checkouts WHERE status IN ('processing', 'requires_action')",
    )[0][0]
    open_auths: int = db_rows(
        server, "SELECT count(*) FROM sandbox_payments WHERE status = 'authorized'"
    )[0][0]
    return pending == 0 and open_auths == 0


async def run_buyers(
    client: Crowd,
    server: DroplineServer,
    shop: SeededDrop,
    *,
    buyers: int,
    concurrency: int,
    kill_after_paid: int,
) -> Outcomes:
    """Buyers hold one line each (SKU a, SKU b or the bundle) and pay; every tenth keeps
    its hold without paying. Once ``kill_after_paid`` orders came back, the server is
    SIGKILLed while the others are mid-request."""
    out = Outcomes()
    gate = asyncio.Semaphore(concurrency)
    killed = asyncio.Event()
    lines = [
        {"sku_id": shop.skus["a"]},
        {"sku_id": shop.skus["b"]},
        {"bundle_id": shop.bundles["ab"]},
    ]

    async def kill_when_due() -> None:
        if len(out.paid_orders) >= kill_after_paid and not killed.is_set():
            killed.set()
            rc = await asyncio.to_thread(server.kill)
            assert rc == -9

    async def buyer(n: int) -> None:
        name = f"crash-{n}"
        headers = buyer_headers(server, shop, name)
        async with gate:
            try:
                hold = await client.post(
                    f"/v1/drops/{shop.drop_id}/holds",
                    json={"items": [lines[n % 3]]},
                    headers=headers,
                )
                if hold.status_code != 201:
                    out.refused[hold.json()["code"]] += 1
                    return
                hold_id = hold.json()["id"]
                if n % 10 == 0:
                    out.kept_holds.append((hold_id, name))
                    return
                paid = await client.post(
                    "/v1/checkouts",
                    json={"hold_id": hold_id, "payment_method": VISA},
                    headers=headers,
                )
                if paid.status_code == 201:
                    out.paid_orders[paid.json()["order_id"]] = hold_id
                    await kill_when_due()
                else:
                    out.refused[paid.json()["code"]] += 1
            except httpx.TransportError:
                out.cut_off += 1

    await asyncio.gather(*(buyer(n) for n in range(buyers)))
    assert killed.is_set(), "the drop ended before the kill; raise the buyer count"
    return out


async def test_sigkill_mid_drop_then_restart_keeps_ledger_and_orders(
    server: DroplineServer,
) -> None:
    async with http(server, clients=5) as client:
        shop = await seed_drop(
            client,
            server.admin_key,
            skus={"a": 60, "b": 60},
            bundles={"ab": {"a": 1, "b": 1}},
        )
        a, b = shop.skus["a"], shop.skus["b"]
        seen = await run_buyers(
            client, server, shop, buyers=400, concurrency=40, kill_after_paid=25
        )
    assert seen.cut_off > 0, "the kill landed after every request had finished"
    assert seen.kept_holds

    server.restart()
    await wait_for("checkout recovery", lambda: recovery_done(server))

    async with http(server, clients=2) as client:
        verify = (await client.get("/v1/stock/verify", headers=server.admin_headers())).json()
        assert verify["consistent"] is True and verify["skus_checked"] >= 2
        offered = await offers(client, server, shop)
        levels = await stock_levels(client, server)
        remaining, _ = await public_remaining(client, shop)

        # Nothing oversold, and the three records of a sale agree per SKU:
        # the order lines, the drop's sold counter and the committed bucket.
        orders = db_rows(server, "SELECT * FROM orders WHERE drop_id = ?", shop.drop_id)
        assert {o["status"] for o in orders} <= {"paid"}
        units: dict[str, int] = defaultdict(int)
        for line in db_rows(
            server,
            "SELECT l.* FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.drop_id = ?",
            shop.drop_id,
        ):
            if line["kind"] == "bundle":
                for sku, q in shop.components[line["ref_id"]].items():
                    units[sku] += q * line["quantity"]
            else:
                units[line["ref_id"]] += line["quantity"]
        for sku in (a, b):
            assert offered[sku]["sold"] <= offered[sku]["offered"] == 60
            assert units[sku] == offered[sku]["sold"] == levels[sku]["committed"]
            # The engine was rebuilt from the ledger: the lost holds are gone.
            assert remaining[sku] == offered[sku]["offered"] - offered[sku]["sold"]

        # Every order the client saw paid survived the crash.
        by_id = {o["id"]: o for o in orders}
        assert set(seen.paid_orders) <= set(by_id)
        for order_id, hold_id in seen.paid_orders.items():
            assert by_id[order_id]["hold_id"] == hold_id
            got = await client.get(f"/v1/orders/{order_id}", headers=server.admin_headers())
            assert got.status_code == 200 and got.json()["status"] == "paid"

        # Every captured payment belongs to exactly one order; every other payment was
        # given back (voided or refunded), so no buyer was charged for nothing.
        payments = db_rows(server, "SELECT * FROM sandbox_payments")
        order_by_payment = Counter(o["payment_id"] for o in orders)
        for p in payments:
            if p["status"] == "captured":
                assert order_by_payment[p["id"]] == 1, dict(p)
                (o,) = (o for o in orders if o["payment_id"] == p["id"])
                assert (o["total_amount"], o["currency"]) == (p["amount"], p["currency"])
            else:
                assert p["status"] in {"voided", "refunded", "declined"}, dict(p)
                assert order_by_payment[p["id"]] == 0, dict(p)
        assert len(orders) == sum(1 for p in payments if p["status"] == "captured")
        for chk in db_rows(server, "SELECT * FROM checkouts WHERE drop_id = ?", shop.drop_id):
            if chk["status"] == "succeeded":
                assert by_id[chk["order_id"]]["checkout_id"] == chk["id"]
            else:
                assert chk["order_id"] is None and chk["id"] not in {
                    o["checkout_id"] for o in orders
                }

        # A hold the crash lost fails cleanly at checkout and changes nothing.
        checkouts_before = len(db_rows(server, "SELECT id FROM checkouts"))
        lost, owner = seen.kept_holds[0]
        resp = await client.post(
            "/v1/checkouts",
            json={"hold_id": lost, "payment_method": VISA},
            headers=buyer_headers(server, shop, owner),
        )
        assert resp.status_code in (404, 410), resp.text
        assert resp.headers["content-type"].startswith(PROBLEM)
        assert resp.json()["code"] in {"not_found", "hold_expired"}
        assert len(db_rows(server, "SELECT id FROM checkouts")) == checkouts_before

        # The restarted server sells exactly what is left, and not one unit more.
        asks = [a] * (remaining[a] + 20) + [b] * (remaining[b] + 20)
        after_crash = await asyncio.gather(
            *(place(client, server, shop, f"late-{n}", {"sku_id": s}) for n, s in enumerate(asks))
        )
        held = [r.json() for r in after_crash if r.status_code == 201]
        assert len(held) == remaining[a] + remaining[b]
        assert Counter(r.json()["code"] for r in after_crash if r.status_code != 201) == {
            "sold_out": 40
        }
        late_paid = await asyncio.gather(
            *(
                client.post(
                    "/v1/checkouts",
                    json={"hold_id": h["id"], "payment_method": VISA},
                    headers=buyer_headers(server, shop, h["buyer_id"]),
                )
                for h in held
            )
        )
        assert [r.status_code for r in late_paid] == [201] * len(held)
        final = await offers(client, server, shop)
        assert final[a]["sold"] == final[a]["offered"] == 60
        assert final[b]["sold"] == final[b]["offered"] == 60
        verify = (await client.get("/v1/stock/verify", headers=server.admin_headers())).json()
        assert verify["consistent"] is True

"""Access windows, rate limits and token age through the API, on both backend profiles
(SQLite with the in-process engine, PostgreSQL with Redis): set them, be refused by
them with the stable problems, see them in the public view and the monitor's access
panel, and keep them when the engine loses its state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from prometheus_client import REGISTRY

from backends import REDIS_URL
from dropline.bootstrap import Container
from dropline.engine.redis_engine import RedisEngine
from dropline.services.platform.metrics import flush
from dropline.services.ports import ManualClock
from fulfilment_support import VISA
from prod_support import lose_redis_data
from support import Shop, seed_shop


def at(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()[:-6] + "Z"


class Store:
    """The storefront's side: a storefront key and tokens minted for buyers."""

    def __init__(self, api: httpx.AsyncClient, c: Container, key: str, shop: Shop) -> None:
        self.api, self.c, self.key, self.shop = api, c, key, shop

    def headers(self, buyer: str, tiers: list[str] | None = None, **kw: Any) -> dict[str, str]:
        token = kw.pop("token", None) or self.c.access.mint(buyer, tiers=tiers)
        return {"Authorization": f"Bearer {self.key}", "X-Buyer-Token": token}

    async def hold(
        self, buyer: str, tiers: list[str] | None = None, qty: int = 1, **kw: Any
    ) -> httpx.Response:
        return await self.api.post(
            f"/v1/drops/{self.shop.drop_id}/holds",
            json={"items": [{"sku_id": self.shop.skus[0], "quantity": qty}]},
            headers=self.headers(buyer, tiers, **kw),
        )


@pytest.fixture
async def store(api: httpx.AsyncClient, container: Container) -> Store:
    key, _ = await container.access.create_key("storefront", "storefront")
    return Store(api, container, key, await seed_shop(container, units=10))


async def put_windows(store: Store, windows: list[dict[str, Any]]) -> httpx.Response:
    return await store.api.put(
        f"/v1/drops/{store.shop.drop_id}/access/windows", json={"windows": windows}
    )


def three_windows(now: float, sku: str) -> list[dict[str, Any]]:
    return [
        {"name": "Gold", "starts_at": at(now + 60), "tiers": ["gold"], "allocation": {sku: 3}},
        {"name": "Members", "starts_at": at(now + 120), "tiers": ["*"], "allocation": {}},
        {"name": "Everyone", "starts_at": at(now + 180)},
    ]


async def test_windows_open_in_turn_and_refuse_with_the_opening_time(
    store: Store, clock: ManualClock
) -> None:
    now = clock.now()
    sku = store.shop.skus[0]
    r = await put_windows(store, three_windows(now, sku))
    assert r.status_code == 200, r.text
    assert [w["name"] for w in r.json()["windows"]] == ["Gold", "Members", "Everyone"]

    early = await store.hold("ann", ["gold"])
    assert early.status_code == 403
    assert early.headers["content-type"] == "application/problem+json"
    assert early.json()["code"] == "window_closed"
    assert early.json()["opens_at"][:19] == at(now + 60)[:19]
    public = (await store.api.get(f"/v1/drops/{store.shop.drop_id}/public")).json()
    assert public["access"]["next_window_at"][:19] == at(now + 60)[:19]
    assert [w["open"] for w in public["access"]["windows"]] == [False, False, False]

    clock.advance(61)
    for buyer in ("g1", "g2", "g3"):
        assert (await store.hold(buyer, ["gold"])).status_code == 201
    full = await store.hold("g4", ["gold"])
    assert full.status_code == 409 and full.json()["code"] == "window_sold_out"
    assert (await store.hold("m1", ["silver"])).json()["code"] == "window_closed"
    nobody = await store.hold("p1")
    assert nobody.status_code == 403 and nobody.json()["opens_at"][:19] == at(now + 180)[:19]

    clock.advance(60)  # members: no units of their own, and gold's are all taken
    assert (await store.hold("m1", ["silver"])).json()["code"] == "window_sold_out"
    clock.advance(60)  # everyone: the rest of the offer
    assert (await store.hold("p1", qty=7)).status_code == 201
    assert (await store.hold("p2")).json()["code"] == "sold_out"

    panel = (await store.api.get(f"/v1/drops/{store.shop.drop_id}/access")).json()
    assert panel["refusals"] == {"window_closed": 3, "window_sold_out": 2}
    monitor = (await store.api.get(f"/v1/drops/{store.shop.drop_id}/monitor")).json()
    assert monitor["access"]["refusals"] == panel["refusals"]


async def test_the_windows_survive_the_engine_losing_its_state(
    store: Store, container: Container, clock: ManualClock
) -> None:
    now = clock.now()
    assert (await put_windows(store, three_windows(now, store.shop.skus[0]))).status_code == 200
    if isinstance(container.engine, RedisEngine):
        assert await lose_redis_data(REDIS_URL, "dl") > 0
    else:
        await container.engine.forget_drop(store.shop.drop_id)
    assert (await store.hold("ann")).json()["code"] == "window_closed"


@pytest.mark.parametrize(
    ("windows", "code"),
    [
        (lambda now, sku: three_windows(now, sku)[::-1], "window_order"),
        (
            lambda now, sku: [{"starts_at": at(now), "tiers": ["Gold Members"]}],
            "window_tier_invalid",
        ),
        (
            lambda now, sku: [
                {"starts_at": at(now), "tiers": ["gold"], "allocation": {sku: 6}},
                {"starts_at": at(now + 1), "tiers": ["*"], "allocation": {sku: 5}},
            ],
            "window_allocation_exceeds_offer",
        ),
        (
            lambda now, sku: [{"starts_at": at(now), "allocation": {"sku_nope": 1}}],
            "window_allocation_exceeds_offer",
        ),
    ],
)
async def test_bad_windows_are_refused_and_change_nothing(
    store: Store, clock: ManualClock, windows: Any, code: str
) -> None:
    r = await put_windows(store, windows(clock.now(), store.shop.skus[0]))
    assert r.status_code == 422 and r.json()["code"] == code, r.text
    panel = (await store.api.get(f"/v1/drops/{store.shop.drop_id}/access")).json()
    assert panel["windows"] == []
    assert (await store.hold("ann")).status_code == 201


async def test_a_tiers_claim_that_is_not_a_list_of_strings_is_refused(store: Store) -> None:
    policy = store.c.access.tokens.policy
    kid = next(iter(policy.hs256))
    import jwt

    for bad in ("gold", [1, 2], ["ok", None], {"gold": True}):
        token = jwt.encode(
            {
                "sub": "ann",
                "iat": int(datetime.now(UTC).timestamp()),
                "exp": 2_000_000_000,
                "tiers": bad,
            },
            policy.hs256[kid],
            algorithm="HS256",
            headers={"kid": kid},
        )
        r = await store.hold("ann", token=token)
        assert r.status_code == 401 and r.json()["code"] == "tiers_claim_invalid", r.text


async def test_rate_limits_answer_429_with_retry_after(store: Store, clock: ManualClock) -> None:
    r = await store.api.put(
        f"/v1/drops/{store.shop.drop_id}/access/limits",
        json={"holds_per_buyer": 2, "checkouts_per_buyer": 1},
    )
    assert r.status_code == 200 and r.json()["limits"]["holds_per_buyer"] == 2
    first = await store.hold("ann")
    second = await store.hold("ann")
    assert first.status_code == second.status_code == 201
    third = await store.hold("ann")
    assert third.status_code == 429
    assert third.json()["code"] == "rate_limited"
    assert third.headers["retry-after"] == "30" == str(third.json()["retry_after_s"])
    assert (await store.hold("bob")).status_code == 201  # another buyer has their own

    pay = {"hold_id": first.json()["id"], "payment_method": VISA}
    paid = await store.api.post("/v1/checkouts", json=pay, headers=store.headers("ann"))
    assert paid.status_code == 201, paid.text
    again = {"hold_id": second.json()["id"], "payment_method": VISA}
    limited = await store.api.post("/v1/checkouts", json=again, headers=store.headers("ann"))
    assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
    clock.advance(60)
    ok = await store.api.post("/v1/checkouts", json=again, headers=store.headers("ann"))
    assert ok.status_code == 201, ok.text
    panel = (await store.api.get(f"/v1/drops/{store.shop.drop_id}/access")).json()
    assert panel["refusals"] == {"rate_limited": 2}


async def test_a_token_older_than_the_drop_allows_is_refused(
    store: Store, clock: ManualClock
) -> None:
    r = await store.api.put(
        f"/v1/drops/{store.shop.drop_id}/access/limits", json={"token_max_age_s": 300}
    )
    assert r.status_code == 200
    token = store.c.access.mint("ann")
    assert (await store.hold("ann", token=token)).status_code == 201
    # Tokens are minted with the real time and aged on the test's clock, which started
    # before the database was set up: age the token from its own iat, not the clock's
    # start (a slow set-up made a 301 s step land short of 300 s past the iat).
    iat = jwt.decode(token, options={"verify_signature": False})["iat"]
    clock.advance(iat + 301 - clock.now())
    old = await store.hold("ann", token=token)
    assert old.status_code == 401 and old.json()["code"] == "token_too_old"


@pytest.mark.parametrize(
    "body",
    [{"holds_per_buyer": 0}, {"token_max_age_s": 5}, {"holds_per_buyer": "5"}, {"nope": 1}],
)
async def test_bad_limits_are_refused(store: Store, body: dict[str, Any]) -> None:
    r = await store.api.put(f"/v1/drops/{store.shop.drop_id}/access/limits", json=body)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


def _count(name: str, **labels: str) -> float:
    flush()  # the services' in-process sums first, as /metrics does
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_access_refusal_of_a_hold_is_counted_under_both_counters(
    store: Store, clock: ManualClock
) -> None:
    """``dropline_holds_refused`` counts every refused hold by code; an access rule's
    refusal also counts under ``dropline_access_refused`` (action ``hold``)."""
    now = clock.now()
    r = await put_windows(store, [{"name": "Later", "starts_at": at(now + 60)}])
    assert r.status_code == 200, r.text
    holds = ("dropline_holds_refused_total", {"code": "window_closed"})
    access = ("dropline_access_refused_total", {"action": "hold", "code": "window_closed"})
    sold_out = ("dropline_access_refused_total", {"action": "hold", "code": "sold_out"})
    before = [_count(n, **lb) for n, lb in (holds, access, sold_out)]
    for buyer in ("a", "b"):
        assert (await store.hold(buyer)).json()["code"] == "window_closed"
    clock.advance(61)
    assert (await store.hold("c", qty=10)).status_code == 201
    assert (await store.hold("d")).json()["code"] == "sold_out"
    after = [_count(n, **lb) for n, lb in (holds, access, sold_out)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 2, 0]
    assert _count("dropline_holds_refused_total", code="sold_out") >= 1

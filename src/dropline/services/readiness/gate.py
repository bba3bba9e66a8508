"""The readiness gate: gather the evidence for a drop's checklist
(``domain/readiness/checklist.py``), send signed test deliveries to webhook endpoints,
and guard going live.

When the gate is enforced, ``guard`` runs just before a drop goes from scheduled to
live (``DropService.transition``): a ``block`` refuses it (``NotReady``) unless an
override reason is given, and the override, with the items it overrode, is written in
the transaction that takes the drop live, so it is in the drop's history exactly when
the drop went live."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from dropline.domain.errors import InvalidInput, NotFound, NotReady
from dropline.domain.events import DomainEvent
from dropline.domain.fulfilment.rules import MessageKind, event_matches
from dropline.domain.ids import new_id
from dropline.domain.inputs import check_text
from dropline.domain.live.drops import Drop
from dropline.domain.live.orders import OrderStatus
from dropline.domain.readiness import checklist as cl
from dropline.domain.stock.counts import OPEN_VARIANCE, SessionStatus
from dropline.services.fulfilment.handoff import READY
from dropline.services.fulfilment.messages import message_context, render_message
from dropline.services.fulfilment.webhooks import live_secrets
from dropline.services.live.schedule import start_blocked
from dropline.services.planning.timeline import load as load_timeline
from dropline.services.planning.timeline import plan_view
from dropline.services.ports import Clock, PaymentProvider, WebhookTransport
from dropline.services.serialize import rfc3339
from dropline.store.live.order_records import OrderLine, OrderRecord
from dropline.store.uow import UnitOfWork, UowFactory

Row = dict[str, Any]
Keep = Callable[[UnitOfWork], Awaitable[None]]
PING_TIMEOUT_S = 10.0
MAX_REASON = 2000
TEST_EVENT = "webhook.test"


@dataclass(frozen=True)
class GatePolicy:
    """What the gate checks the real parts against (built from settings in bootstrap)."""

    enforce: bool = False
    key_mode: str = "test"  # the payment keys' mode: test | live | unknown
    expected_mode: str = "test"
    returns_policy: str = ""
    dev_secrets: Sequence[str] = field(default_factory=tuple)
    unsafe: Sequence[str] = field(default_factory=tuple)
    shop_name: str = "dropline"


def item_view(i: cl.Item) -> Row:
    return {k: (v.value if isinstance(v, cl.Status) else v) for k, v in asdict(i).items()}


def _sample_order(now: datetime) -> OrderRecord:
    line = OrderLine(1, "sku", "sku_sample", "Sample tee — M", 1, 2500, "USD", 2500)
    return OrderRecord(
        "ord_sample",
        "drp_sample",
        "buyer",
        "hld_sample",
        "chk_sample",
        OrderStatus.PAID,
        "",
        "USD",
        2500,
        2500,
        "sandbox",
        "pay_sample",
        {},
        now,
        now,
        now,
        1,
        (line,),
    )


def template_failures(shop_name: str, now: datetime) -> dict[str, str]:
    """Kind → the error, for every buyer message template that does not render with a
    sample order (an empty dict when they all do)."""
    order = _sample_order(now)
    ship = {
        "name": "Ada Lovelace",
        "line1": "1 Main St",
        "city": "London",
        "postal_code": "N1",
        "country": "GB",
        "ship_by": now,
        "carrier": "UPS",
        "tracking_number": "1Z",
        "tracking_url": "https://carrier.example/1Z",
    }
    failures = {}
    for kind in MessageKind:
        try:
            render_message(kind, message_context(order, ship, shop_name, reason="a sample"))
        except Exception as exc:  # any template error is the finding
            failures[kind.value] = f"{type(exc).__name__}: {exc}"[:200]
    return failures


class ReadinessService:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        provider: PaymentProvider,
        transport: WebhookTransport,
        policy: GatePolicy,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.provider = provider
        self.transport = transport
        self.policy = policy

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # ------------------------------------------------------------------ the checklist
    async def checklist(self, drop_id: str) -> Row:
        """The drop's computed checklist: every item with its status, evidence and what
        to do, the verdict, whether the gate is enforced, the overrides so far, and the
        scheduled start the gate refused (``start_blocked``, None when none stands)."""
        now = self._now()
        async with self.uow(readonly=True) as uow:
            drop = await uow.drops.get(drop_id)
            if drop is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            items = await self._stock_items(uow, drop, now)
            endpoints = await self._endpoint_evidence(uow, now)
            rehearsal = await self._rehearsal_evidence(uow, drop.id)
            launches = await self._launch_evidence(uow, drop.id, now)
            overrides = await uow.readiness.overrides(drop.id)
            blocked = await start_blocked(uow, drop)
        items += [
            cl.warehouse_endpoints(endpoints, now),
            await self._payments_item(),
            cl.returns_policy(self.policy.returns_policy),
            cl.templates(template_failures(self.policy.shop_name, now)),
            cl.secrets(self.policy.dev_secrets, self.policy.unsafe),
            cl.rehearsed(rehearsal, now),
            cl.launch_timeline(launches),
        ]
        return {
            "drop": {"id": drop.id, "name": drop.name, "status": drop.status.value},
            "verdict": cl.verdict(items).value,
            "gate": "enforce" if self.policy.enforce else "advise",
            "checked_at": rfc3339(now),
            "items": [item_view(i) for i in items],
            "overrides": [
                {
                    "actor": o["actor"],
                    "reason": o["reason"],
                    "blocks": o["blocks"],
                    "at": rfc3339(o["created_at"]),
                }
                for o in overrides
            ],
            # the scheduled start this gate refused, while the drop is still scheduled
            "start_blocked": blocked,
        }

    async def _stock_items(self, uow: UnitOfWork, drop: Drop, now: datetime) -> list[cl.Item]:
        offers = await uow.drops.offers(drop.id)
        pre = {p.sku_id for p in await uow.production.preorder_offers(drop.id)}
        skus = await uow.catalog.get_skus(offers)
        code = {s: skus[s].code if s in skus else s for s in offers}
        stocked = sorted(s for s in offers if s not in pre)
        # counts
        last: dict[str, datetime] = {}
        open_var: dict[str, int] = {}
        for session, line in await uow.counts.lines_for(stocked, since=now - cl.COUNT_WINDOW):
            if session.status is SessionStatus.CLOSED and session.closed_at is not None:
                last[line.sku_id] = max(last.get(line.sku_id, session.closed_at), session.closed_at)
            elif line.status in OPEN_VARIANCE:
                open_var[line.sku_id] = open_var.get(line.sku_id, 0) + 1
        counts = [cl.CountEvidence(code[s], last.get(s), open_var.get(s, 0)) for s in stocked]
        # offers and stock
        levels = await uow.stock.levels(stocked)
        all_unsold = await uow.readiness.unsold_offered(stocked)
        offer_stock = [
            cl.OfferStock(
                code[s],
                offers[s].unsold,
                all_unsold.get(s, 0),
                levels[s].reserved if s in levels else 0,
            )
            for s in stocked
        ]
        # staging
        staged_in = await uow.bins.staging(drop.id)
        held = await uow.stock.bins_of(stocked)
        bins = await uow.bins.get_many(staged_in.values())
        staging = []
        for s in stocked:
            b = staged_in.get(s)
            staging.append(
                cl.Staging(
                    code[s],
                    bins[b].code if b in bins else None,
                    held.get(s, {}).get(b, 0) if b else 0,
                    offers[s].unsold,
                )
            )
        lots = [
            cl.LotState(code[x["sku_id"]], x["batch_number"] or x["id"], x["status"])
            for x in await uow.production.lots()
            if x["sku_id"] in code
        ]
        return [
            cl.priced({code[s]: skus[s].price.amount for s in offers if s in skus}),
            *cl.counted(counts, now),
            cl.offers_within_stock(offer_stock),
            cl.staged(staging),
            cl.qc_passed(lots),
            cl.buffer_set({code[s]: (skus[s].safety_qty, skus[s].safety_pct) for s in stocked}),
        ]

    async def _endpoint_evidence(self, uow: UnitOfWork, now: datetime) -> list[cl.EndpointEvidence]:
        endpoints = [
            e
            for e in await uow.webhooks.list_endpoints()
            if e["enabled"] and e["warehouse"] and event_matches(e["event_types"], READY)
        ]
        checks = await uow.readiness.endpoint_checks(
            [e["id"] for e in endpoints], now - cl.ENDPOINT_WINDOW
        )
        out = []
        for e in endpoints:
            found = checks.get(e["id"])
            if not found:
                out.append(cl.EndpointEvidence(e["id"], e["url"]))
                continue
            latest = found[0]
            out.append(
                cl.EndpointEvidence(
                    e["id"], e["url"], latest["checked_at"], latest["status_code"], latest["error"]
                )
            )
        return out

    async def _rehearsal_evidence(
        self, uow: UnitOfWork, drop_id: str
    ) -> cl.RehearsalEvidence | None:
        for r in await uow.readiness.rehearsals(drop_id, limit=5):
            if r["finished_at"] is None:
                continue  # still running
            failed = next((s["stage"] for s in r["stages"] if s["status"] == "fail"), "")
            return cl.RehearsalEvidence(r["id"], r["status"], r["finished_at"], failed)
        return None

    async def _launch_evidence(
        self, uow: UnitOfWork, drop_id: str, now: datetime
    ) -> list[cl.LaunchEvidence]:
        out = []
        for launch in await uow.launches.find():
            if launch["drop_id"] != drop_id:
                continue
            timeline = plan_view(await load_timeline(uow, launch, now.date()))
            overdue = tuple(
                (m["name"], m["owner"], m["due"]) for m in timeline["milestones"] if m["overdue"]
            )
            out.append(cl.LaunchEvidence(launch["name"], overdue))
        return out

    async def _payments_item(self) -> cl.Item:
        error = ""
        try:
            await asyncio.wait_for(self.provider.ping(), PING_TIMEOUT_S)
        except TimeoutError:
            error = f"no answer in {PING_TIMEOUT_S:.0f} s"
        except Exception as exc:  # any failure to answer is the finding
            error = str(getattr(exc, "detail", "") or exc or type(exc).__name__)[:200]
        return cl.payments(
            self.provider.name, self.policy.key_mode, self.policy.expected_mode, error
        )

    # ------------------------------------------------------------------ going live
    async def guard(self, drop: Drop, actor: str, override_reason: str) -> Keep | None:
        """Before ``drop`` goes live (outside the transaction that takes it live: a
        check pings the payment provider): refuse with ``NotReady`` while its checklist
        has a ``block``, unless ``override_reason`` says why it may go live anyway.
        Returns what that transaction must keep (the override: who, why, what it
        overrode, and ``drop.readiness_overridden``), or None when nothing blocks."""
        reason = override_reason.strip()
        if len(reason) > MAX_REASON:
            raise InvalidInput(f"an override reason is at most {MAX_REASON} characters")
        check_text(reason, "override_reason")
        report = await self.checklist(drop.id)
        blocks = [i for i in report["items"] if i["status"] == cl.Status.BLOCK.value]
        if not blocks:
            return None
        summary = [{"id": b["id"], "title": b["title"], "evidence": b["evidence"]} for b in blocks]
        if not reason:
            raise NotReady(
                f"the drop is not ready: {len(blocks)} blocking item(s), first "
                f"'{blocks[0]['title']}': {blocks[0]['evidence']}; fix them, or go live "
                "with an override reason",
                blocks=summary,
            )

        async def keep(uow: UnitOfWork) -> None:
            await uow.readiness.add_override(
                {
                    "id": new_id("ovr"),
                    "drop_id": drop.id,
                    "actor": actor[:120] or "unknown",
                    "reason": reason,
                    "blocks": summary,
                    "created_at": self._now(),
                }
            )
            uow.record(
                DomainEvent(
                    "drop.readiness_overridden",
                    "drop",
                    drop.id,
                    drop.version,
                    {"id": drop.id, "actor": actor, "reason": reason, "blocks": summary},
                )
            )

        return keep

    # ------------------------------------------------------------------ test deliveries
    async def send_test_delivery(self, endpoint_id: str, actor: str = "") -> Row:
        """POST a signed ``webhook.test`` event (its data flagged ``test``) to an
        endpoint now and record what it answered: the gate's evidence that the
        warehouse receives and verifies deliveries."""
        async with self.uow(readonly=True) as uow:
            e = await uow.webhooks.get_endpoint(endpoint_id)
        if e is None:
            raise NotFound(f"webhook endpoint {endpoint_id} not found")
        now = self._now()
        event_id = new_id("evt")
        body = json.dumps(
            {
                "id": event_id,
                "type": TEST_EVENT,
                "timestamp": rfc3339(now),
                "data": {"test": True, "endpoint_id": endpoint_id, "sent_by": actor},
            },
            separators=(",", ":"),
        )
        outcome = await self.transport.deliver(e["url"], live_secrets(e, now), event_id, body)
        return await self.record_endpoint_check(
            endpoint_id, e["url"], outcome.status_code, outcome.duration_ms, outcome.error, actor
        )

    async def record_endpoint_check(
        self,
        endpoint_id: str,
        url: str,
        status_code: int | None,
        duration_ms: int,
        error: str,
        actor: str,
    ) -> Row:
        """Keep one answer of an endpoint to a signed test delivery."""
        now = self._now()
        values: Row = {
            "id": new_id("epc"),
            "endpoint_id": endpoint_id,
            "url": url,
            "status_code": status_code,
            "ok": status_code is not None and 200 <= status_code < 300,
            "duration_ms": duration_ms,
            "error": error[:500],
            "actor": actor[:120],
            "checked_at": now,
        }
        async with self.uow() as uow:
            await uow.readiness.add_endpoint_check(values)
            uow.audit(
                "webhook_endpoint.tested",
                "webhook_endpoint",
                endpoint_id,
                after={"status_code": status_code, "ok": values["ok"]},
            )
            await uow.commit()
        return {**values, "checked_at": rfc3339(now)}

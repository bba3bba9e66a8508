"""Webhooks out of the outbox: endpoints, fan-out, dispatch with retries, replay.

The pipeline, and why each step is where it is:

1. **Fan-out** reads new outbox rows after a per-consumer cursor (``outbox_cursors``,
   locked while it runs) and writes one ``webhook_deliveries`` row per subscribed
   endpoint in the same transaction that advances the cursor, so an event is never
   skipped nor fanned out twice. It stops at a gap in the outbox sequence until the gap
   is older than ``settle_s`` (a PostgreSQL transaction that took a lower number may
   still be committing).
2. **Dispatch** leases due deliveries (``FOR UPDATE SKIP LOCKED`` + ``locked_until``) and
   commits before any HTTP call, then POSTs each one signed per Standard Webhooks, then
   records the outcome with a compare-and-set on the lease. A dispatcher killed between
   the POST and the record loses nothing: the lease lapses and the delivery is sent
   again with the same ``webhook-id`` (at-least-once; receivers de-duplicate on it).
3. **Ordering**: a delivery is not claimed while an earlier event of the same aggregate
   is pending or failing for the same endpoint, so one order's events arrive in order.
   A dead (given-up) delivery does not block later ones.
4. **Outcomes**: 2xx → delivered; 410 → the endpoint is disabled; anything else is
   retried on the schedule with jitter and becomes ``dead`` after the last attempt. An
   endpoint failing ``pause_after`` times in a row is paused and a
   ``webhook_endpoint.paused`` event alerts ops.

One idea: outgoing webhook delivery, from the outbox cursor to the dead letter.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from dropline.domain.errors import InvalidInput, InvalidSignature, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.fulfilment.rules import (
    DEFAULT_RETRY_SCHEDULE,
    DeliveryStatus,
    event_matches,
    is_success,
    retry_delay,
    validate_event_patterns,
    validate_schedule,
)
from dropline.domain.ids import new_id
from dropline.services.platform.metrics import metrics
from dropline.services.ports import Clock, HttpOutcome, WebhookTransport
from dropline.services.serialize import rfc3339
from dropline.store.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)

CURSOR = "webhooks"
Row = dict[str, Any]
DeliveredHook = Callable[[UnitOfWork, Row], Awaitable[None]]
SecretFactory = Callable[[], str]


@dataclass(frozen=True)
class WebhookPolicy:
    schedule: tuple[int, ...] = DEFAULT_RETRY_SCHEDULE
    lease_s: float = 60.0
    pause_after: int = 20
    pause_after_s: float = 6 * 3600
    settle_s: float = 30.0
    default_overlap_s: int = 24 * 3600

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1


def check_url(url: str) -> str:
    """An endpoint URL must be absolute http(s) with a host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an absolute http:// or https:// URL")
    if len(url) > 2000:
        raise InvalidInput("url is longer than 2000 characters")
    return url.strip()


def live_secrets(endpoint: Mapping[str, Any], now: datetime) -> list[str]:
    """The current secret, plus the previous one while its overlap lasts."""
    out = [endpoint["secret"]]
    prev, until = endpoint.get("previous_secret"), endpoint.get("previous_secret_expires_at")
    if prev and until is not None and until > now:
        out.append(prev)
    return out


def event_body(row: Mapping[str, Any], test: bool = False) -> str:
    """The JSON body of a delivery: ``{"id","type","timestamp","data":{...,"version"}}``;
    ``test`` (an event of a dress rehearsal's drop) adds ``"test": true`` to the data."""
    data = dict(row["payload"])
    data["version"] = int(row["aggregate_version"])
    if test:
        data["test"] = True
    return json.dumps(
        {
            "id": row["event_id"],
            "type": row["event_type"],
            "timestamp": rfc3339(row["occurred_at"]),
            "data": data,
        },
        separators=(",", ":"),
        default=str,
    )


def endpoint_view(e: Mapping[str, Any], secret: str | None = None) -> Row:
    """An endpoint as the API shows it: never its secrets, except ``secret`` once."""
    out = {
        "id": e["id"],
        "url": e["url"],
        "description": e["description"],
        "event_types": list(e["event_types"]),
        "enabled": bool(e["enabled"]),
        "warehouse": bool(e["warehouse"]),
        "disabled_reason": e["disabled_reason"],
        "consecutive_failures": int(e["consecutive_failures"]),
        "previous_secret_expires_at": e.get("previous_secret_expires_at"),
        "created_at": e["created_at"],
        "updated_at": e["updated_at"],
    }
    if secret is not None:
        out["secret"] = secret
    return out


class WebhookService:
    def __init__(
        self,
        uow: UowFactory,
        transport: WebhookTransport,
        clock: Clock,
        secret_factory: SecretFactory,
        policy: WebhookPolicy | None = None,
    ) -> None:
        self.uow = uow
        self.transport = transport
        self.clock = clock
        self.new_secret = secret_factory
        self.policy = policy or WebhookPolicy()
        validate_schedule(self.policy.schedule)
        self.on_delivered: list[DeliveredHook] = []

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # ------------------------------------------------------------------ endpoints
    async def create_endpoint(
        self,
        url: str,
        event_types: Sequence[str],
        description: str = "",
        *,
        warehouse: bool = False,
    ) -> Row:
        """Register an endpoint; the returned view carries the secret, shown only now.
        A ``warehouse`` endpoint's 2xx to ``order.ready_to_fulfill`` hands the order off
        (an analytics endpoint subscribed to ``*`` must not)."""
        secret = self.new_secret()
        now = self._now()
        values = {
            "id": new_id("whe"),
            "url": check_url(url),
            "description": description,
            "event_types": validate_event_patterns(event_types),
            "secret": secret,
            "enabled": True,
            "warehouse": warehouse,
            "disabled_reason": "",
            "consecutive_failures": 0,
            "deleted": False,
            "created_at": now,
            "updated_at": now,
        }
        async with self.uow() as uow:
            await uow.webhooks.add_endpoint(values)
            uow.audit(
                "webhook_endpoint.created",
                "webhook_endpoint",
                str(values["id"]),
                after=_audited(values),
            )
            await uow.commit()
        return endpoint_view(values, secret)

    async def get_endpoint(self, endpoint_id: str) -> Row:
        async with self.uow(readonly=True) as uow:
            e = await uow.webhooks.get_endpoint(endpoint_id)
        if e is None:
            raise NotFound(f"webhook endpoint {endpoint_id} not found")
        return endpoint_view(e)

    async def list_endpoints(self) -> list[Row]:
        async with self.uow(readonly=True) as uow:
            return [endpoint_view(e) for e in await uow.webhooks.list_endpoints()]

    async def update_endpoint(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        warehouse: bool | None = None,
    ) -> Row:
        """Change an endpoint. Enabling it clears a pause or a 410 and its failure count;
        its queued deliveries then flow again."""
        values: dict[str, Any] = {}
        if url is not None:
            values["url"] = check_url(url)
        if event_types is not None:
            values["event_types"] = validate_event_patterns(event_types)
        if description is not None:
            values["description"] = description
        if warehouse is not None:
            values["warehouse"] = warehouse
        if enabled is not None:
            values["enabled"] = enabled
            values["disabled_reason"] = "" if enabled else "disabled by an operator"
            if enabled:
                values["consecutive_failures"] = 0
                values["failing_since"] = None
        async with self.uow() as uow:
            current = await uow.webhooks.get_endpoint(endpoint_id, lock=True)
            if current is None:
                raise NotFound(f"webhook endpoint {endpoint_id} not found")
            if values:
                await uow.webhooks.update_endpoint(endpoint_id, **values)
                uow.audit(
                    "webhook_endpoint.updated",
                    "webhook_endpoint",
                    endpoint_id,
                    before=_audited(current),
                    after=_audited({**current, **values}),
                )
            await uow.commit()
        return await self.get_endpoint(endpoint_id)

    async def delete_endpoint(self, endpoint_id: str) -> None:
        """Stop delivering to the endpoint for good (its history is kept)."""
        async with self.uow() as uow:
            current = await uow.webhooks.get_endpoint(endpoint_id, lock=True)
            if current is None:
                raise NotFound(f"webhook endpoint {endpoint_id} not found")
            await uow.webhooks.update_endpoint(endpoint_id, deleted=True, enabled=False)
            uow.audit(
                "webhook_endpoint.deleted",
                "webhook_endpoint",
                endpoint_id,
                before=_audited(current),
                after={"deleted": True},
            )
            await uow.commit()

    async def rotate_secret(self, endpoint_id: str, overlap_s: int | None = None) -> Row:
        """Issue a new secret (returned once). The old one keeps signing, alongside the
        new, for ``overlap_s`` seconds so the receiver can switch without a gap."""
        overlap = self.policy.default_overlap_s if overlap_s is None else overlap_s
        if not 0 <= overlap <= 7 * 24 * 3600:
            raise InvalidInput("overlap_s must be between 0 and 604800 (7 days)")
        secret = self.new_secret()
        now = self._now()
        async with self.uow() as uow:
            e = await uow.webhooks.get_endpoint(endpoint_id, lock=True)
            if e is None:
                raise NotFound(f"webhook endpoint {endpoint_id} not found")
            await uow.webhooks.update_endpoint(
                endpoint_id,
                secret=secret,
                previous_secret=e["secret"] if overlap else None,
                previous_secret_expires_at=now + timedelta(seconds=overlap) if overlap else None,
            )
            await uow.commit()
        view = await self.get_endpoint(endpoint_id)
        view["secret"] = secret
        return view

    async def verify_inbound(
        self, endpoint_id: str, body: bytes, headers: Mapping[str, str]
    ) -> Any:
        """Check an incoming request signed with an endpoint's secret (current or, during
        a rotation, previous). Unknown endpoint, missing headers, a stale timestamp or a
        wrong signature all raise ``InvalidSignature``; returns the parsed JSON body."""
        async with self.uow(readonly=True) as uow:
            e = await uow.webhooks.get_endpoint(endpoint_id) if endpoint_id else None
        if e is None:
            raise InvalidSignature("unknown webhook endpoint")
        return self.transport.verify(live_secrets(e, self._now()), body, headers)

    # ------------------------------------------------------------------ fan-out
    async def fan_out(self, batch: int = 500) -> int:
        """Turn new outbox rows into deliveries; returns how many deliveries were made.
        Yields to the event loop between batches so a backlog never stalls requests."""
        total = 0
        while True:
            made, read, done = await self._fan_out_once(batch)
            total += made
            if done or read < batch:
                return total
            await asyncio.sleep(0)

    async def _fan_out_once(self, batch: int) -> tuple[int, int, bool]:
        now = self._now()
        settle = timedelta(seconds=self.policy.settle_s)
        async with self.uow() as uow:
            last = await uow.webhooks.cursor(CURSOR)
            events = await uow.webhooks.outbox_after(last, batch)
            oldest = events[0]["occurred_at"] if events else None
            metrics().outbox_lag.set(
                max(0.0, (now - _aware(oldest)).total_seconds()) if oldest else 0.0
            )
            endpoints = await uow.webhooks.list_endpoints()
            rows: list[Row] = []
            new_last = last
            stopped = False
            for ev in events:
                if ev["seq"] != new_last + 1 and ev["occurred_at"] > now - settle:
                    stopped = True  # a lower number may still commit: wait for it
                    break
                new_last = int(ev["seq"])
                for ep in endpoints:
                    # An endpoint receives what happens from its creation on.
                    if ev["occurred_at"] >= ep["created_at"] and event_matches(
                        ep["event_types"], ev["type"]
                    ):
                        rows.append(
                            {
                                "id": new_id("whd"),
                                "endpoint_id": ep["id"],
                                "event_seq": ev["seq"],
                                "event_id": ev["id"],
                                "event_type": ev["type"],
                                "aggregate_type": ev["aggregate_type"],
                                "aggregate_id": ev["aggregate_id"],
                                "status": DeliveryStatus.PENDING.value,
                                "attempts": 0,
                                "next_attempt_at": now,
                                "last_error": "",
                                "created_at": now,
                                "updated_at": now,
                            }
                        )
            made = await uow.webhooks.add_deliveries(rows)
            if new_last != last:
                await uow.webhooks.set_cursor(CURSOR, new_last)
            await uow.commit()
        return made, len(events), stopped

    # ------------------------------------------------------------------ dispatch
    async def dispatch_due(self, limit: int = 50) -> int:
        """Attempt every due delivery once (up to ``limit``); returns how many."""
        now = self._now()
        lease = new_id("lease")
        async with self.uow() as uow:
            rows = await uow.webhooks.claim_due(
                now, now + timedelta(seconds=self.policy.lease_s), lease, limit
            )
            await uow.commit()
        if rows:
            tests = await self._rehearsal_drops(rows)
            await asyncio.gather(
                *(self._attempt(row, lease, _drop_of(row) in tests) for row in rows)
            )
        return len(rows)

    async def _rehearsal_drops(self, rows: Sequence[Row]) -> set[str]:
        """The drops among these deliveries' events that are dress rehearsals' copies:
        their every event goes out flagged as a test."""
        drop_ids = {d for d in map(_drop_of, rows) if d}
        if not drop_ids:
            return set()
        async with self.uow(readonly=True) as uow:
            return await uow.drops.rehearsal_ids(drop_ids)

    async def run_once(self, max_rounds: int = 20) -> int:
        """The background job: fan out, dispatch, and repeat while deliveries were made
        (a delivery can cause new events, e.g. the hand-off); returns how many attempts."""
        total = 0
        for _ in range(max_rounds):
            await self.fan_out()
            n = await self.dispatch_due()
            total += n
            if n == 0:
                break
        return total

    async def _attempt(self, row: Row, lease: str, test: bool = False) -> None:
        now = self._now()
        outcome: HttpOutcome = await self.transport.deliver(
            row["url"], live_secrets(row, now), row["event_id"], event_body(row, test)
        )
        await self._record(row, lease, outcome)

    async def _record(self, row: Row, lease: str, outcome: HttpOutcome) -> None:
        now = self._now()
        attempt = int(row["attempts"]) + 1
        ok = is_success(outcome.status_code)
        metrics().webhook_deliveries.labels(
            "delivered" if ok else ("error" if outcome.status_code is None else "failed")
        ).inc()
        async with self.uow() as uow:
            await uow.webhooks.add_attempt(
                {
                    "delivery_id": row["id"],
                    "attempt": attempt,
                    "attempted_at": now,
                    "status_code": outcome.status_code,
                    "duration_ms": outcome.duration_ms,
                    "response_excerpt": outcome.response_excerpt,
                    "error": outcome.error,
                }
            )
            if ok:
                values: dict[str, Any] = {
                    "status": DeliveryStatus.DELIVERED.value,
                    "delivered_at": now,
                }
            else:
                delay = retry_delay(attempt, self.policy.schedule)
                values = {
                    "status": (
                        DeliveryStatus.DEAD if delay is None else DeliveryStatus.FAILED
                    ).value,
                    "next_attempt_at": now + timedelta(seconds=delay or 0),
                }
            values.update(
                attempts=attempt,
                last_status_code=outcome.status_code,
                last_error=outcome.error or ("" if ok else f"HTTP {outcome.status_code}"),
            )
            if not await uow.webhooks.finish_delivery(row["id"], lease, **values):
                # Our lease lapsed and another dispatcher owns it now: keep only the log.
                await uow.commit()
                return
            if ok:
                await uow.webhooks.update_endpoint(
                    row["endpoint_id"], consecutive_failures=0, failing_since=None
                )
                for hook in self.on_delivered:
                    await hook(uow, row)
            else:
                await self._endpoint_failed(uow, row, outcome)
            await uow.commit()

    async def _endpoint_failed(self, uow: UnitOfWork, row: Row, outcome: HttpOutcome) -> None:
        endpoint_id = row["endpoint_id"]
        failures, since = await uow.webhooks.count_failure(endpoint_id, self._now())
        endpoint = await uow.webhooks.get_endpoint(endpoint_id)
        if endpoint is None or not endpoint["enabled"]:
            return
        if outcome.status_code == 410:
            reason = "the endpoint answered 410 Gone"
            event = "webhook_endpoint.disabled"
        elif failures >= self.policy.pause_after and self._now() - since >= timedelta(
            seconds=self.policy.pause_after_s
        ):
            reason = f"paused after {failures} consecutive failed deliveries since {rfc3339(since)}"
            event = "webhook_endpoint.paused"
        else:
            return
        await uow.webhooks.update_endpoint(endpoint_id, enabled=False, disabled_reason=reason)
        log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
        uow.record(
            DomainEvent(
                event,
                "webhook_endpoint",
                endpoint_id,
                failures,
                {
                    "id": endpoint_id,
                    "url": endpoint["url"],
                    "reason": reason,
                    "consecutive_failures": failures,
                    "last_status_code": outcome.status_code,
                    "last_error": outcome.error,
                },
            )
        )

    # ------------------------------------------------------------------ replay & log
    async def replay(self, delivery_id: str) -> Row:
        """Send one delivery again from a fresh schedule, whatever its state."""
        async with self.uow() as uow:
            if await uow.webhooks.replay(self._now(), delivery_id=delivery_id) != 1:
                raise NotFound(f"delivery {delivery_id} not found")
            await uow.commit()
        return await self.get_delivery(delivery_id)

    async def replay_failed(self, since: datetime, endpoint_id: str | None = None) -> int:
        """Queue again every failed or dead delivery created since ``since``."""
        async with self.uow() as uow:
            n = await uow.webhooks.replay(self._now(), since=since, endpoint_id=endpoint_id)
            await uow.commit()
        return n

    async def get_delivery(self, delivery_id: str) -> Row:
        async with self.uow(readonly=True) as uow:
            d = await uow.webhooks.get_delivery(delivery_id)
            if d is None:
                raise NotFound(f"delivery {delivery_id} not found")
            d["attempt_log"] = await uow.webhooks.attempts(delivery_id)
        return _delivery_view(d)

    async def list_deliveries(
        self,
        *,
        endpoint_id: str | None = None,
        status: str | None = None,
        event_id: str | None = None,
        limit: int = 100,
    ) -> list[Row]:
        if status is not None and status not in {s.value for s in DeliveryStatus}:
            raise InvalidInput(f"unknown delivery status {status!r}")
        async with self.uow(readonly=True) as uow:
            rows = await uow.webhooks.list_deliveries(
                endpoint_id=endpoint_id, status=status, event_id=event_id, limit=limit
            )
        return [_delivery_view(d) for d in rows]


def _drop_of(row: Mapping[str, Any]) -> str:
    """The drop an event is about: a drop's own id, else its payload's ``drop_id``."""
    if row["aggregate_type"] == "drop":
        return str(row["aggregate_id"])
    payload = row["payload"]
    return str(payload.get("drop_id") or "") if isinstance(payload, Mapping) else ""


def _delivery_view(d: Mapping[str, Any]) -> Row:
    keep = (
        "id",
        "endpoint_id",
        "event_id",
        "event_type",
        "aggregate_type",
        "aggregate_id",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
    )
    out = {k: d.get(k) for k in keep}
    if "attempt_log" in d:
        out["attempt_log"] = [
            {
                k: a[k]
                for k in (
                    "attempt",
                    "attempted_at",
                    "status_code",
                    "duration_ms",
                    "response_excerpt",
                    "error",
                )
            }
            for a in d["attempt_log"]
        ]
    return out


def _aware(at: datetime) -> datetime:
    """SQLite gives naive UTC datetimes back; PostgreSQL aware ones."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _audited(endpoint: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit trail keeps of an endpoint: never its secrets."""
    keep = ("url", "event_types", "description", "enabled", "warehouse")
    return {k: endpoint[k] for k in keep if k in endpoint}

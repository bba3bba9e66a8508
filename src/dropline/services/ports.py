"""The small protocols the services need from the outside world.

One idea, the service layer's boundary: each protocol (clock, stock engine, payments,
mail, files, signing keys, ...) is short, and keeping them together shows in one place
everything an adapter may be asked to do. Adapters implement these;
``dropline.bootstrap`` is the one place that picks which. Nothing here does I/O itself.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dropline.domain.live.access import AccessPolicy
from dropline.domain.live.holds import Hold, HoldRequest

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


class Clock(Protocol):
    """Wall-clock time in UTC epoch seconds; injected so tests can move time."""

    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to: for tests and simulations."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


# --------------------------------------------------------------------------- engine


@dataclass(frozen=True)
class EngineOffer:
    """One SKU as a drop offers it to the engine.

    ``remaining`` is what may still be held (offered − sold, from the ledger at load).
    ``per_buyer_limit`` counts every unit a buyer holds or bought of this SKU in the drop.
    """

    sku_id: str
    remaining: int
    per_buyer_limit: int | None = None
    paused: bool = False


@dataclass(frozen=True)
class DropSnapshot:
    """What the engine needs to (re)build a drop from the ledger."""

    drop_id: str
    accepting: bool
    offers: Mapping[str, EngineOffer]
    buyer_taken: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: The drop's access windows and rate limits (``domain/live/access.py``), and the
    #: units of each SKU already sold, which the windows' allocations count against.
    access: AccessPolicy = field(default_factory=AccessPolicy)
    sold: Mapping[str, int] = field(default_factory=dict)
    #: The waitlist gate of each SKU with buyers in line ("armed" or "latched";
    #: ``domain/live/waitlist.restored_gate``): restored with the drop, so the units a
    #: rebuild gives back wait for the line from the first hold, not from the
    #: waitlist job's next pass.
    waitlist: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SkuCounts:
    """``waitlist``: the SKU's waitlist gate (``WaitlistGate``: "" none, "armed",
    "latched"); while latched only claim holds may take its units."""

    remaining: int
    held: int
    paused: bool
    waitlist: str = ""


@dataclass(frozen=True)
class EngineEvent:
    """A hold lifecycle event journalled by the engine in the same atomic step as the
    change; drained into hold event pages (``services/live/hold_journal.py``).

    ``id`` is unique. ``pos`` orders a drop's events within ``journal`` (one journal's
    lifetime: a process for the in-process engine, the server for Redis), so the
    drain keeps a cursor per drop and a re-read event is never stored twice."""

    id: str
    type: str
    at: float
    hold: Hold
    journal: str
    pos: tuple[int, int]


class DropNotLoaded(Exception):
    """The engine has no state for this drop (never loaded, or the backend lost it).

    Not a caller-facing error: the hold service rebuilds the drop from the ledger and
    retries once."""

    def __init__(self, drop_id: str) -> None:
        super().__init__(drop_id)
        self.drop_id = drop_id


class StockEngine(Protocol):
    """The fast layer: atomic, expiring holds over a drop's offered units.

    Every method is atomic with respect to every other on the same drop. Times are passed
    in by the caller (UTC epoch seconds) so a test clock drives expiry.
    Errors: ``SoldOut``/``InsufficientStock`` (with ``sku_id``), ``LimitExceeded``,
    ``DropNotLive``, ``IdempotencyMismatch``, ``HoldExpired``, ``HoldNotActive``,
    ``NotFound`` from ``dropline.domain.errors``; ``DropNotLoaded`` when the drop must be
    rebuilt first.
    """

    async def ensure_drop(self, snapshot: DropSnapshot) -> bool:
        """Load the drop if the engine does not have it; True if it loaded it."""
        ...

    async def reset_drop(self, snapshot: DropSnapshot) -> None:
        """Replace whatever the engine has for the drop (its holds are forgotten)."""
        ...

    async def forget_drop(self, drop_id: str) -> None:
        """Drop all state of the drop, holds included, without a word: what losing the
        engine's memory looks like. Undrained events are kept."""
        ...

    async def end_drop(self, drop_id: str, now: float) -> int:
        """Close the drop for good: no new holds, every live hold finished with its
        event (``hold.released``, or ``hold.expired`` if its time had passed), so each
        hold's history ends; then its state is forgotten as by ``forget_drop``. Returns
        the number of holds it finished; 0 for a drop the engine does not have. Atomic
        per hold, not as a whole: a hold may still convert meanwhile."""
        ...

    async def set_accepting(self, drop_id: str, accepting: bool) -> None:
        """Open or close the whole drop to new holds (live vs paused/ended)."""
        ...

    async def set_sku_paused(self, drop_id: str, sku_id: str, paused: bool) -> None: ...

    async def adjust_offer(
        self,
        drop_id: str,
        sku_id: str,
        delta: int,
        per_buyer_limit: int | None,
        *,
        buyer_id: str | None = None,
    ) -> None:
        """Add ``delta`` units (may be negative, never below zero) to a live offer and
        set its per-buyer limit (None: no limit; ``delta`` 0 changes only the limit).

        ``buyer_id``: the ``delta`` units come back from that buyer (a cancelled
        order), so in the same atomic step the buyer's usage of the SKU shrinks by
        ``delta`` (never below zero) and no longer counts against the limit."""
        ...

    async def set_waitlist_gate(self, drop_id: str, sku_id: str, mode: str) -> tuple[int, str]:
        """Set the SKU's waitlist gate (``domain/live/waitlist.GateMode``): ``off``
        removes it; ``arm`` arms it (latched at once when nothing is left); ``latch``
        latches it whatever is left. An armed gate latches in the same step as the hold
        that takes the last unit; once latched, a unit that comes back (an expired or
        released hold, a cancellation, a restock) can only be taken by a claim hold
        (``HoldRequest.claim``): other holds are refused ``SoldOut``. Returns
        (units remaining, the gate's state after the call: "", "armed" or "latched").
        ``NotFound`` if the drop does not offer the SKU."""
        ...

    async def place_hold(self, request: HoldRequest, now: float) -> Hold:
        """Take the request's units, all or none. The drop's token max age
        (``TokenTooOld``), rate limits (``RateLimited``) and access windows
        (``WindowClosed``, ``WindowSoldOut``) are checked here, in the same atomic step
        as the stock, so no caller can go around them."""
        ...

    async def set_access(self, drop_id: str, policy: AccessPolicy) -> None:
        """Replace a loaded drop's access windows and rate limits (its counters and
        buckets are kept); ``DropNotLoaded`` when the engine lacks the drop."""
        ...

    async def rate_check(
        self,
        drop_id: str,
        action: str,
        buyer_id: str,
        client: str,
        issued_at: float | None,
        now: float,
    ) -> None:
        """Refuse a token older than the drop's max age (``TokenTooOld``), then count one
        attempt of ``action`` (``rate_limits.CHECKOUTS``) against the drop's per-buyer
        and per-address buckets, or raise ``RateLimited`` (nothing counted)."""
        ...

    async def access_stats(self, drop_id: str) -> dict[str, int]:
        """Refusals of the drop's access rules by problem code, as the engine counted
        them (``window_closed``, ``window_sold_out``, ``rate_limited``, ...)."""
        ...

    async def note_refusal(self, drop_id: str, code: str) -> None:
        """Count a refusal decided outside the engine (``token_too_old``)."""
        ...

    async def get_hold(self, hold_id: str) -> Hold | None: ...

    async def start_payment(self, hold_id: str, now: float, cap_s: int) -> Hold:
        """active → paying, extending the expiry once up to ``cap_s`` after creation.
        Idempotent on a hold that is already paying."""
        ...

    async def release(self, hold_id: str, now: float) -> Hold: ...

    async def convert(self, hold_id: str, now: float) -> Hold | None:
        """active/paying → converted: the units stay taken for good. Returns None when
        the hold no longer owns its units (expired, released, lost): the caller must
        then ``take`` them afresh or refund."""
        ...

    async def take(self, drop_id: str, buyer_id: str, units: Mapping[str, int]) -> bool:
        """Take units outside any hold (a late payment), all or none, atomically.
        False when a SKU is not offered or lacks units; ``LimitExceeded`` when the
        buyer would pass a per-buyer limit (their usage: live holds, converted and
        taken units), checked as ``place_hold`` checks it. Pauses and a closed drop
        are ignored: the buyer's hold was placed while it was open."""
        ...

    async def expire_due(self, now: float, limit: int = 500) -> list[Hold]:
        """Expire up to ``limit`` holds whose time has come; each exactly once."""
        ...

    async def counts(self, drop_id: str) -> dict[str, SkuCounts]: ...

    async def read_events(self, limit: int = 1000) -> list[EngineEvent]:
        """Oldest journalled events first, without removing them."""
        ...

    async def journal_lease(self, owner: str, ttl_s: float) -> bool:
        """Whether ``owner`` may drain the journal now (one drainer at a time when
        several processes share the engine; renewed for the same owner)."""
        ...

    async def ack_events(self, event_ids: list[str]) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------- payments


class PaymentStatus(StrEnum):
    REQUIRES_ACTION = "requires_action"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    VOIDED = "voided"
    REFUNDED = "refunded"
    DECLINED = "declined"


@dataclass(frozen=True)
class PaymentResult:
    """A provider's answer. A decline is a result, not an exception; only an unreachable
    or nonsensical provider raises ``PaymentProviderError``."""

    payment_id: str
    status: PaymentStatus
    amount: int
    currency: str
    decline_code: str | None = None
    message: str | None = None
    next_action: Mapping[str, Any] | None = None
    refunded_amount: int = 0


class PaymentProvider(Protocol):
    """A card processor: authorise, confirm (3-D Secure), capture, void, refund.

    Every mutating call takes an idempotency key: the same key returns the same result
    without moving money twice, which is what makes crash recovery a simple retry.
    """

    name: str

    async def authorize(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentResult: ...

    async def confirm(self, payment_id: str, *, idempotency_key: str) -> PaymentResult: ...

    async def capture(self, payment_id: str, *, idempotency_key: str) -> PaymentResult: ...

    async def void(self, payment_id: str, *, idempotency_key: str) -> PaymentResult: ...

    async def refund(
        self, payment_id: str, *, idempotency_key: str, amount: int | None = None
    ) -> PaymentResult: ...

    async def retrieve(self, payment_id: str) -> PaymentResult: ...

    async def ping(self) -> None: ...


@dataclass(frozen=True)
class Authorization:
    """One authorisation to ask for: ``PaymentProvider.authorize``'s arguments."""

    amount: int
    currency: str
    payment_method: str
    idempotency_key: str
    metadata: Mapping[str, str] | None = None


@runtime_checkable
class WritesInTransaction(Protocol):
    """A provider whose payments are rows of dropline's own database (the sandbox).

    Its authorisations and captures can then be written inside the checkout's own
    transaction (``conn``: the unit of work's connection) instead of a transaction of
    their own. Under a burst that halves the write transactions of an order (the
    payment's start with its authorisation, the capture with the order) and doubles the
    batches each one is shared by. It stays safe because the rows commit or roll back
    together: a crash leaves either both (recovery reads the payment) or neither
    (nothing was charged). A real processor (Stripe) is another system and never does
    this: its call must happen after the checkout is durably recorded.

    ``writes_in(conn)``: whether ``conn`` is on the database this provider keeps its
    payments in (only then may it write there). The two writers answer one result per
    call, in order: the payment, or the exception its own rule raised (a provider
    error, an idempotency key reused), for which nothing was written; they never
    commit."""

    def writes_in(self, conn: AsyncConnection) -> bool: ...

    async def authorize_in(
        self, conn: AsyncConnection, calls: Sequence[Authorization]
    ) -> list[PaymentResult | Exception]: ...

    async def capture_in(
        self, conn: AsyncConnection, calls: Sequence[tuple[str, str]]
    ) -> list[PaymentResult | Exception]:
        """``calls``: (payment id, idempotency key) per capture."""
        ...


#: How a saved payment method's token starts: what a provider's ``authorize`` reads as
#: "charge the saved method off-session" (the buyer is not there to authenticate).
SAVED_METHOD_PREFIX = "saved:"


@dataclass(frozen=True)
class SavedMethod:
    """A payment method kept at the provider for later off-session charges. ``token``
    (``saved:...``, at most 120 characters) is what ``authorize`` takes as its
    ``payment_method``; ``last4`` and ``brand`` are for showing it to the buyer."""

    token: str
    last4: str = ""
    brand: str = ""


@runtime_checkable
class SavesPaymentMethods(Protocol):
    """A provider that can keep a buyer's payment method and charge it off-session.

    ``save_method`` sets the method up for off-session use (Stripe: a Customer and a
    confirmed SetupIntent with ``usage=off_session``); a card refused while being set
    up is a ``PaymentDeclined`` (402) and nothing is kept. ``authorize`` with the
    returned token charges it off-session: a card that asks for authentication then is
    a ``DECLINED`` result with ``decline_code="authentication_required"``, never
    ``REQUIRES_ACTION``. ``forget_method`` detaches it (safe to repeat)."""

    async def save_method(
        self, *, payment_method: str, idempotency_key: str, metadata: Mapping[str, str]
    ) -> SavedMethod: ...

    async def forget_method(self, token: str) -> None: ...


class AutoCharger(Protocol):
    """What the waitlist calls when a claim is placed for an entry with a saved payment
    method (``services/live/waitlist_autocharge.py``)."""

    async def charge(self, entry_id: str) -> bool:
        """True while the unit stays the buyer's (paid, or being charged); False when
        the charge failed and the claim's unit is back behind the gate."""
        ...

    async def forget(self, entry_id: str) -> None:
        """Detach the entry's saved method (the buyer left the line)."""
        ...


# --------------------------------------------------------------------------- webhooks


@dataclass(frozen=True)
class HttpOutcome:
    """What one webhook POST came back with: a status code, or an ``error`` when no
    response arrived (refused, timed out, TLS failure)."""

    status_code: int | None
    duration_ms: int
    response_excerpt: str = ""
    error: str = ""


class WebhookTransport(Protocol):
    """Signs (Standard Webhooks) and sends webhooks, and verifies incoming ones.

    ``secrets`` are ``whsec_...`` strings; sending signs with each (several space-separated
    signatures during a rotation overlap), verifying accepts any. Timestamps are wall-clock
    time, because receivers check them against theirs."""

    async def deliver(
        self, url: str, secrets: list[str], msg_id: str, body: str
    ) -> HttpOutcome: ...

    def verify(self, secrets: list[str], body: bytes, headers: Mapping[str, str]) -> Any:
        """The parsed JSON body. Raises ``InvalidSignature`` (missing headers, stale
        timestamp, no matching signature) or ``InvalidInput`` (signed, but not JSON)."""
        ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------- mail


@dataclass(frozen=True)
class OutgoingMessage:
    """A rendered buyer message. ``id`` doubles as the Message-ID so a receiving system
    can drop the rare duplicate after a crash between sending and recording."""

    id: str
    to: str
    subject: str
    text: str
    html: str


class BlobStore(Protocol):
    """Where uploaded files (buyers' problem photos) are kept, by key
    (``problems/<report>/<photo>.jpg``): a directory, or an S3-compatible bucket.
    ``get`` raises ``NotFound`` for a key that is not there."""

    name: str

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None:
        """Remove the file; a key that is not there is no error (cleanup is retried)."""
        ...


class MailServerUnreachable(Exception):
    """A mail session could not connect to its server: the message that tried fails
    (and is retried on its schedule), the rest of the pass waits for the next run
    instead of each waiting out its own connection timeout."""


class MailSession(Protocol):
    """Messages sent one after another over one connection (one pass of the send job)."""

    async def send(self, message: OutgoingMessage) -> None:
        """Send one message; raises on its failure. The session stays usable: a
        message refused or a connection lost fails that message alone.
        ``MailServerUnreachable`` when no connection could be opened."""
        ...


class Mailer(Protocol):
    """Delivers buyer messages. ``final_status`` is what a successful send is recorded
    as: ``stored`` for the embedded mailer (kept in the database), ``sent`` for SMTP.
    ``send`` raises on failure; the caller retries on its schedule. ``session`` sends
    many over one connection: after a sell-out, thousands of confirmations are due at
    once, and a connection (and TLS handshake and login) per message would cap them at
    a few a second."""

    name: str
    final_status: str

    async def send(self, message: OutgoingMessage) -> None: ...

    def session(self) -> contextlib.AbstractAsyncContextManager[MailSession]: ...


# --------------------------------------------------------------------------- credentials


class SigningKeys(Protocol):
    """Public keys the creator's site signs buyer tokens with, by key id (its JWKS).

    ``key`` gives the ``jwt.PyJWK`` for ``kid`` (its algorithm fixed by the key, never by
    a token), or None when the site publishes no such key; it raises
    ``KeysUnavailable`` when the keys cannot be had at all (never fetched, site down)."""

    async def key(self, kid: str) -> Any: ...


class KeyEvents(Protocol):
    """Tells every process of a deployment that API keys changed (revoked, rotated), so
    each drops the keys it cached at once.

    ``hears_others`` is True while this process is sure to hear every other process's
    notice (subscribed); while False the caller trusts its cache only briefly."""

    hears_others: bool

    async def announce(self) -> None:
        """Tell every process, this one included, and return once the ones listening
        acted on it (or after a short timeout)."""
        ...

    async def listen(self, on_change: Callable[[], None]) -> None:
        """Call ``on_change`` for each notice, and after each (re)subscription (notices
        may have been missed meanwhile), until cancelled."""
        ...

    async def close(self) -> None: ...

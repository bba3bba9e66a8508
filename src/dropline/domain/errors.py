"""The one error tree of dropline.

Every error a caller can act on is a ``DroplineError`` with a stable ``code``. The
domain and services raise these; exactly one module (``dropline.api.errors``) maps them
to HTTP problem details, and the CLI prints them. Codes are part of the public API:
never rename one, add a new one instead.

    DroplineError
    ├── NotFound                 not_found
    ├── InvalidInput             validation_error
    │   ├── JsonTooComplex       json_too_complex
    │   ├── MilestoneOutOfOrder  milestone_out_of_order
    │   ├── CsvFieldTooLarge     csv_field_too_large
    │   ├── DependencyCycle      dependency_cycle
    │   ├── BinNotInSession      bin_not_in_session
    │   ├── WindowOrder          window_order
    │   ├── WindowAllocation     window_allocation_exceeds_offer
    │   └── WindowTier           window_tier_invalid
    ├── Conflict                 conflict
    │   ├── Archived             archived
    │   ├── IdempotencyMismatch  idempotency_mismatch
    │   ├── IdempotencyInProgress idempotency_in_progress
    │   ├── InvalidTransition    invalid_transition
    │   ├── BelowMoq             below_moq
    │   ├── PreorderClosed       preorder_closed
    │   ├── InspectionDiscontinued inspection_discontinued
    │   ├── ReturnNotAllowed     return_not_allowed
    │   ├── NotReady             not_ready
    │   ├── NotSoldOut           not_sold_out
    │   ├── ClaimUsed            claim_used
    │   └── ClaimLost            claim_lost
    ├── StockError
    │   ├── SoldOut              sold_out
    │   ├── LimitExceeded        limit_exceeded
    │   ├── InsufficientStock    insufficient_stock
    │   └── WindowSoldOut        window_sold_out
    ├── HoldError
    │   ├── HoldExpired          hold_expired
    │   ├── HoldNotActive        hold_not_active
    │   └── HoldNotOwned         hold_not_owned
    ├── DropNotLive              drop_not_live
    ├── WindowClosed             window_closed
    ├── RateLimited              rate_limited
    ├── PaymentError
    │   ├── PaymentDeclined      payment_declined
    │   └── PaymentProviderError payment_provider_error
    ├── AuthError
    │   ├── Unauthenticated      unauthenticated
    │   │   ├── TokenTooOld      token_too_old
    │   │   └── TiersClaimInvalid tiers_claim_invalid
    │   ├── InvalidSignature     invalid_signature
    │   ├── InvalidToken         invalid_token
    │   ├── Forbidden            forbidden
    │   │   ├── SelfApproval     self_approval
    │   │   └── ClaimNotYours    claim_not_yours
    │   └── KeysUnavailable      keys_unavailable
    └── EngineUnavailable        engine_unavailable
"""

from __future__ import annotations

from typing import Any


class DroplineError(Exception):
    """Base of every error a caller can act on; ``code`` is stable, ``detail`` is for humans."""

    code = "error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = extra


class NotFound(DroplineError):
    code = "not_found"


class InvalidInput(DroplineError):
    code = "validation_error"


class JsonTooComplex(InvalidInput):
    """A JSON body nested deeper, or with longer lists, than any request needs."""

    code = "json_too_complex"


class MilestoneOutOfOrder(InvalidInput):
    """A production run's milestone would fall after one that must come later (final
    QC after the warehouse intake); ``milestone`` and ``must_precede`` name both."""

    code = "milestone_out_of_order"


class CsvFieldTooLarge(InvalidInput):
    """An uploaded CSV has a field longer than the reader takes (``limit`` characters,
    Python's ``csv.field_size_limit``); ``line`` says where. Nothing was imported."""

    code = "csv_field_too_large"


class DependencyCycle(InvalidInput):
    """A timeline's milestones wait for each other in a circle; ``cycle`` names it."""

    code = "dependency_cycle"


class BinNotInSession(InvalidInput):
    """A count was recorded for a bin (or the unplaced units) the count session does
    not cover; ``session_id`` and ``bin_id`` say which."""

    code = "bin_not_in_session"


class WindowOrder(InvalidInput):
    """A drop's access windows are not in order: a window starts at or after the
    next one's start; ``index`` names the window."""

    code = "window_order"


class WindowAllocation(InvalidInput):
    """The windows' allocations of a SKU add up to more than the drop offers, or name
    a SKU the drop does not offer; ``sku_id`` says which."""

    code = "window_allocation_exceeds_offer"


class WindowTier(InvalidInput):
    """A window names a tier that is not a tier name (``domain/live/access.TIER``)."""

    code = "window_tier_invalid"


class Conflict(DroplineError):
    code = "conflict"


class Archived(Conflict):
    """The product, SKU or bundle is archived: it keeps its history (orders, stock,
    reports) but cannot be offered, bundled or given new variants until restored."""

    code = "archived"


class IdempotencyMismatch(Conflict):
    """An idempotency key was replayed with a different request."""

    code = "idempotency_mismatch"


class IdempotencyInProgress(Conflict):
    """The first request with this idempotency key is still running (or what it
    started is still being finished): retry later for its response."""

    code = "idempotency_in_progress"


class InvalidTransition(Conflict):
    """A state machine was asked for a move it does not allow."""

    code = "invalid_transition"


class BelowMoq(Conflict):
    """A production run is under its minimum order quantity; ``shortfall`` says by how
    much. Accepted only with an explicit override and reason."""

    code = "below_moq"


class PreorderClosed(Conflict):
    """The pre-order window of a SKU has closed."""

    code = "preorder_closed"


class InspectionDiscontinued(Conflict):
    """ISO 2859-1 clause 9.4: 5 lots rejected on tightened inspection; no lot may be
    inspected under the scheme until corrective action is accepted and it is resumed."""

    code = "inspection_discontinued"


class ReturnNotAllowed(Conflict):
    """The order cannot take this return: not shipped yet, the window has closed, or
    nothing is left to refund."""

    code = "return_not_allowed"


class NotReady(Conflict):
    """The readiness gate blocks the drop from going live; ``blocks`` lists the
    checklist items. Going live anyway needs an override with a reason."""

    code = "not_ready"


class NotSoldOut(Conflict):
    """Joining the waitlist of a SKU that can still be held: place a hold instead (the
    problem carries ``hold_url``)."""

    code = "not_sold_out"


class ClaimUsed(Conflict):
    """A waitlist claim link that was already used."""

    code = "claim_used"


class ClaimLost(Conflict):
    """A waitlist claim whose window passed (or whose hold is gone): the unit went on."""

    code = "claim_lost"


class StockError(DroplineError):
    code = "stock_error"


class SoldOut(StockError):
    code = "sold_out"


class LimitExceeded(StockError):
    code = "limit_exceeded"


class InsufficientStock(StockError):
    """A stock operation asked for more units than the bucket holds."""

    code = "insufficient_stock"


class WindowSoldOut(StockError):
    """The open access windows' allocation of a SKU is taken, though units are kept
    for a later window; ``next_window_at`` (RFC 3339, or null) says when more open."""

    code = "window_sold_out"


class HoldError(DroplineError):
    code = "hold_error"


class HoldExpired(HoldError):
    code = "hold_expired"


class HoldNotActive(HoldError):
    """The hold was released, converted or is otherwise not usable for this step."""

    code = "hold_not_active"


class HoldNotOwned(HoldError):
    code = "hold_not_owned"


class DropNotLive(DroplineError):
    code = "drop_not_live"


class WindowClosed(DroplineError):
    """The buyer's access window has not opened: ``opens_at`` (RFC 3339) is when it
    does, null when no window of the drop admits the buyer's tiers."""

    code = "window_closed"


class RateLimited(DroplineError):
    """Too many holds or checkouts from one buyer or one client address for the drop's
    limits; ``retry_after_s`` (also the ``Retry-After`` header) says when to try again."""

    code = "rate_limited"


class PaymentError(DroplineError):
    code = "payment_error"


class PaymentDeclined(PaymentError):
    code = "payment_declined"


class PaymentProviderError(PaymentError):
    """The provider could not be reached or answered something unusable."""

    code = "payment_provider_error"


class AuthError(DroplineError):
    code = "auth_error"


class Unauthenticated(AuthError):
    code = "unauthenticated"


class TokenTooOld(Unauthenticated):
    """The buyer token was issued (``iat``) longer ago than the drop's
    ``token_max_age_s``: the creator's site should mint a fresh one."""

    code = "token_too_old"


class TiersClaimInvalid(Unauthenticated):
    """The buyer token's ``tiers`` claim is not a list of tier names."""

    code = "tiers_claim_invalid"


class InvalidSignature(AuthError):
    """An incoming webhook's signature is missing, wrong or too old to trust."""

    code = "invalid_signature"


class InvalidToken(AuthError):
    """A buyer link's signed token is malformed, tampered with or expired."""

    code = "invalid_token"


class Forbidden(AuthError):
    code = "forbidden"


class SelfApproval(Forbidden):
    """The one who counted a variance over the threshold tried to approve it; it needs
    another approver."""

    code = "self_approval"


class ClaimNotYours(Forbidden):
    """A waitlist claim link opened by a buyer other than the one it was offered to."""

    code = "claim_not_yours"


class KeysUnavailable(AuthError):
    """The keys that verify buyer tokens cannot be had: the creator's JWKS was never
    fetched and its site does not answer. Not the caller's fault: retry later."""

    code = "keys_unavailable"


class EngineUnavailable(DroplineError):
    """The reservation engine cannot serve (unreachable, or rebuilding after data loss)."""

    code = "engine_unavailable"

"""Sending and verifying Standard Webhooks with the reference library.

Signatures are ``standardwebhooks.Webhook(secret).sign(...)``; during a secret rotation
the header carries one ``v1,...`` signature per live secret, space-separated, which the
specification allows and every conforming verifier accepts. Verification is
``Webhook(secret).verify(...)`` (it also rejects timestamps more than 5 minutes off).
"""

from __future__ import annotations

import base64
import json
import secrets as _secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from dropline.domain.errors import InvalidInput, InvalidSignature
from dropline.services.ports import HttpOutcome

EXCERPT = 500
USER_AGENT = "dropline-webhooks/1"


def generate_secret() -> str:
    """A fresh ``whsec_`` + base64 secret of 32 random bytes (Standard Webhooks format)."""
    return "whsec_" + base64.b64encode(_secrets.token_bytes(32)).decode("ascii")


def sign_headers(
    secrets: list[str], msg_id: str, body: str, at: datetime | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, signed with every secret."""
    at = at or datetime.now(UTC)
    at = at.replace(microsecond=0)
    signature = " ".join(Webhook(s).sign(msg_id, at, body) for s in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


class HttpxTransport:
    """POSTs JSON with ``httpx`` (no redirects followed: a receiver must answer itself)."""

    def __init__(self, timeout_s: float = 10.0, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), follow_redirects=False
        )

    async def deliver(self, url: str, secrets: list[str], msg_id: str, body: str) -> HttpOutcome:
        headers = {
            **sign_headers(secrets, msg_id, body),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        started = time.perf_counter()
        try:
            response = await self._client.post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return HttpOutcome(
                None,
                int((time.perf_counter() - started) * 1000),
                error=f"{type(exc).__name__}: {exc}"[:EXCERPT],
            )
        return HttpOutcome(
            response.status_code,
            int((time.perf_counter() - started) * 1000),
            response.text[:EXCERPT],
        )

    def verify(self, secrets: list[str], body: bytes, headers: Mapping[str, str]) -> Any:
        lowered = {k.lower(): v for k, v in headers.items()}
        wanted: dict[str, str] = {
            k: lowered[k]
            for k in ("webhook-id", "webhook-timestamp", "webhook-signature")
            if k in lowered
        }
        last = "no secret"
        for secret in secrets:
            try:
                Webhook(secret).verify(body, wanted, json_parse=False)
            except WebhookVerificationError as exc:
                last = str(exc)
                continue
            except (ValueError, UnicodeDecodeError) as exc:  # malformed signature header
                last = f"malformed: {exc}"
                continue
            try:
                return json.loads(body)
            except ValueError:
                raise InvalidInput("the body is not valid JSON") from None
        raise InvalidSignature(f"webhook signature rejected: {last}")

    async def close(self) -> None:
        await self._client.aclose()

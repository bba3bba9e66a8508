"""Key-change notices between the processes of a deployment (``services.ports.KeyEvents``).

Each API process caches the API keys it verified. When a key is revoked or rotated the
process that did it forgets its own cache at once; these adapters tell the others:

- ``LocalKeyEvents`` (the in-process engine): there is one server process, so there is
  no one else to tell. A key revoked from another process (the CLI) is noticed when
  the server's short cache lifetime runs out, since it hears no notices.
- ``RedisKeyEvents`` (the Redis engine): a notice is published on a Redis pub/sub
  channel every API process subscribes to. Each listener forgets its keys and then
  acknowledges (``INCR`` of a counter named after the notice); ``announce`` returns once
  as many acknowledgements as ``PUBLISH`` counted receivers arrived (or after
  ``ack_timeout_s``), so when a revocation returns, no process still accepts the key.
  A listener that loses its connection resubscribes, and forgets everything each time
  it (re)subscribes, since notices sent meanwhile are lost; while it is not subscribed
  ``hears_others`` is False and the caller trusts its cache only briefly.

Pub/sub channels are shared by every database of a Redis server, so the channel name
carries the database number: two deployments (or test runs) on one server stay apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

#: The longest wait between two attempts to subscribe again while Redis is down.
MAX_RETRY_S = 5.0


class LocalKeyEvents:
    """One process: nothing to tell, nothing to hear."""

    hears_others = False

    async def announce(self) -> None:
        return None

    async def listen(self, on_change: Callable[[], None]) -> None:
        await asyncio.Event().wait()  # until cancelled

    async def close(self) -> None:
        return None


def channel_for(url: str, prefix: str = "dl") -> str:
    """``dl:<db>:api-keys-changed`` for a ``redis://host:port/<db>`` URL."""
    db = urlsplit(url).path.strip("/") or "0"
    return f"{prefix}:{db}:api-keys-changed"


class RedisKeyEvents:
    """Notices over Redis pub/sub, acknowledged by every listener (module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        ack_timeout_s: float = 2.0,
        retry_s: float = 0.5,
        health_check_s: float = 5.0,
        client_name: str | None = None,
    ) -> None:
        import redis.asyncio as aioredis

        self.channel = channel_for(url)
        self.ack_timeout_s = ack_timeout_s
        self.retry_s = retry_s
        self.health_check_s = health_check_s
        self.hears_others = False
        self._client: Any = aioredis.Redis.from_url(
            url, health_check_interval=health_check_s, client_name=client_name
        )

    async def announce(self) -> None:
        """Publish a notice and wait for every receiver's acknowledgement. A Redis that
        cannot be reached is logged, not raised: the change is already committed, and
        listeners that lost Redis too trust their caches only briefly."""
        from redis.exceptions import RedisError

        notice = secrets.token_hex(8)
        ack = f"{self.channel}:ack:{notice}"
        try:
            receivers = int(await self._client.publish(self.channel, notice))
            deadline = time.monotonic() + self.ack_timeout_s
            while receivers > 0:
                acked = await self._client.get(ack)
                if acked is not None and int(acked) >= receivers:
                    return
                if time.monotonic() > deadline:
                    log.warning(
                        "API key change: %s of %d processes acknowledged within %.1f s",
                        int(acked or 0),
                        receivers,
                        self.ack_timeout_s,
                    )
                    return
                await asyncio.sleep(0.002)
        except (RedisError, OSError) as exc:
            log.warning("API key change could not be announced over Redis: %s", exc)

    async def listen(self, on_change: Callable[[], None]) -> None:
        """Subscribe, and resubscribe after any failure (waiting ``retry_s``, doubled
        on each failure up to ``MAX_RETRY_S``), until cancelled."""
        from redis.exceptions import RedisError

        delay = self.retry_s
        while True:
            pubsub = self._client.pubsub()
            try:
                await self._subscribed(pubsub)
                self.hears_others = True
                delay = self.retry_s
                on_change()  # notices sent before we (re)subscribed are lost
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=self.health_check_s
                    )
                    if message is not None and message.get("type") == "message":
                        on_change()
                        await self._acknowledge(message["data"])
            except (RedisError, OSError) as exc:
                self.hears_others = False
                on_change()
                log.warning(
                    "API key notices: Redis connection lost (%s); resubscribing in %.1f s",
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_S)
            finally:
                self.hears_others = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _subscribed(self, pubsub: Any) -> None:
        """Subscribe and wait for Redis to confirm it (a notice published before the
        confirmation may not reach this process)."""
        await pubsub.subscribe(self.channel)
        deadline = time.monotonic() + self.health_check_s * 2
        while time.monotonic() < deadline:
            message = await pubsub.get_message(timeout=self.health_check_s)
            if message is not None and message.get("type") == "subscribe":
                return
        raise OSError("no subscription confirmation from Redis")

    async def _acknowledge(self, notice: bytes | str) -> None:
        text = notice.decode() if isinstance(notice, bytes) else str(notice)
        ack = f"{self.channel}:ack:{text[:32]}"
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.incr(ack)
            pipe.expire(ack, 60)
            await pipe.execute()

    async def close(self) -> None:
        await self._client.aclose()

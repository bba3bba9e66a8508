"""The creator's JWKS over HTTP(S): the public keys that verify buyer tokens.

PyJWT's ``PyJWKClient`` fetches and parses the document (http and https only, no
redirects, only signing keys that have a ``kid``); this adapter decides when:

- a fetched key set is used for ``refresh_s``, then fetched again;
- a ``kid`` missing from the set fetches again at most once per ``cooldown_s``, so a key
  the site just added is found and a flood of made-up kids does not flood the site;
- a failed fetch keeps the last good set (and logs) and is retried after ``cooldown_s``:
  the site's JWKS being down does not stop a live drop. Only while no set was ever
  fetched are keys unavailable (``KeysUnavailable``, a 503).

Fetching is blocking I/O (urllib), so it runs in a thread; a key found in a fresh set is
answered without one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import jwt

from dropline.domain.errors import KeysUnavailable

log = logging.getLogger(__name__)

#: While no key set was ever fetched, a failed fetch is retried this soon.
FIRST_FETCH_RETRY_S = 1.0


class JwksKeys:
    """``services.ports.SigningKeys`` over a JWKS URL."""

    def __init__(
        self,
        url: str,
        *,
        refresh_s: float = 300.0,
        cooldown_s: float = 30.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.refresh_s = refresh_s
        self.cooldown_s = cooldown_s
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout_s)
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched = False
        self._fetched_at = float("-inf")
        self._tried_at = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0  # attempts, for tests and metrics

    def _due(self, kid: str, now: float) -> bool:
        """Whether to fetch the set before answering for ``kid``."""
        if now - self._tried_at < (self.cooldown_s if self._fetched else FIRST_FETCH_RETRY_S):
            return False
        return now - self._fetched_at >= self.refresh_s or kid not in self._keys

    async def key(self, kid: str) -> jwt.PyJWK | None:
        if self._due(kid, self._clock()):
            async with self._lock:  # one fetch at a time; the rest use its result
                if self._due(kid, self._clock()):
                    await self._fetch()
        if not self._fetched:
            raise KeysUnavailable("the buyer token keys (JWKS) could not be fetched yet")
        return self._keys.get(kid)

    async def _fetch(self) -> None:
        self._tried_at = self._clock()
        self.fetches += 1
        try:
            keys = await asyncio.to_thread(self._client.get_signing_keys, True)
        except (jwt.PyJWTError, ValueError, OSError) as exc:
            log.warning(
                "buyer token JWKS %s could not be fetched (%s); %s",
                self.url,
                exc,
                "keeping the last key set" if self._fetched else "no key set yet",
            )
            return
        self._keys = {k.key_id: k for k in keys if k.key_id}
        self._fetched = True
        self._fetched_at = self._clock()

"""Who is calling, and which request this is: context variables set by the entrypoints
and read below them.

- ``request_id``: set per HTTP request by ``api/request_ids.py`` (from ``X-Request-ID`` or
  made), put on every log line (``runtime.RequestIdFilter``) and every problem response.
- ``actor``: set by the API key check (``api/deps.py``, the hot path) and the ``/ui``
  login check (``web/common.py``); the unit of work (``store/uow.py``) reads it when it
  records domain events, to write the audit trail in the same transaction.

Plain ``contextvars``: each asyncio task (each request) sees its own values, so nothing
is passed through the service signatures. In the ports layer so the store may read it.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

request_id: ContextVar[str] = ContextVar("dropline_request_id", default="")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: an API key (``kind="key"``, its id and name) or a ``/ui``
    login (``kind="user"``: the key the session was opened with, and its name)."""

    kind: str
    id: str
    name: str


actor: ContextVar[Actor | None] = ContextVar("dropline_actor", default=None)

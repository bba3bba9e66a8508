"""Domain events: facts that other parts of the system (and webhooks) react to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DomainEvent:
    """``type`` like ``order.paid``; ``aggregate_version`` lets receivers drop stale ones."""

    type: str
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    payload: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""

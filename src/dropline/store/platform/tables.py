"""Platform tables: the outbox of domain events, API keys, idempotency records."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    String,
    Table,
    Text,
)

from dropline.store.columns import SeqType, metadata, ts

outbox = Table(
    "outbox",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    # 80: engine event ids are ``evt_<stream entry id>.<drop id>`` (about 50 chars).
    Column("id", String(80), nullable=False, unique=True),
    Column("type", String(60), nullable=False, index=True),
    Column("aggregate_type", String(30), nullable=False),
    Column("aggregate_id", String(60), nullable=False, index=True),
    Column("aggregate_version", Integer, nullable=False),
    Column("payload", JSON, nullable=False),
    ts("occurred_at"),
)


api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("prefix", String(24), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(120), nullable=False),
    ts("created_at"),
    ts("revoked_at", nullable=True),
    # Stops working at this time (unset: never); a rotated key gets its grace end here.
    ts("expires_at", nullable=True),
    # Written at most once a minute per key per process, off the request path.
    ts("last_used_at", nullable=True),
    # The key a rotation issued in its place.
    Column("replaced_by", String(40), nullable=True),
)


# One row per (caller, Idempotency-Key), inserted before the request runs: status_code 0
# while it runs (see store/platform/access_repo.py IN_PROGRESS), then its response.
idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("principal", String(40), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("method", String(10), nullable=False),
    Column("path", String(300), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("body", Text, nullable=False),
    ts("created_at"),
)


# "Sign out everywhere": /ui sessions of a key issued before reset_at are refused.
ui_session_resets = Table(
    "ui_session_resets",
    metadata,
    Column("key_id", String(40), primary_key=True),
    ts("reset_at"),
)


# Who changed what (API key or /ui login): written by the unit of work in the same
# transaction as the change; append-only (no update or delete path; on PostgreSQL a
# trigger refuses both, see migration 0014_audit).
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    ts("at"),
    Column("actor_kind", String(10), nullable=False),
    Column("actor_id", String(40), nullable=False, index=True),
    Column("actor_name", String(120), nullable=False),
    Column("action", String(60), nullable=False, index=True),
    Column("resource_type", String(30), nullable=False),
    Column("resource_id", String(80), nullable=False, index=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("request_id", String(128), nullable=False, default=""),
)

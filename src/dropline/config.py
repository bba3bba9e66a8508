"""Typed settings from the environment (prefix ``DROPLINE_``), built by a factory.

Nothing reads the environment at import time: ``load_settings()`` is called by the
entrypoints, and tests pass a ``Settings`` they build themselves.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_BUYER_SECRET = "dev-only-buyer-token-secret-change-me"
#: An HS256 key as long as the hash's output at least (RFC 7518 §3.2).
MIN_HS256_KEY_BYTES = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DROPLINE_", extra="ignore")

    database_url: str = Field(
        "sqlite+aiosqlite:///./dropline.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///file.db or postgresql+asyncpg://...",
    )
    db_pool_size: int = Field(
        20, ge=1, le=500, description="PostgreSQL connections kept open per process"
    )
    db_max_overflow: int = Field(
        20, ge=0, le=500, description="extra PostgreSQL connections per process under load"
    )
    engine_url: str = Field(
        "memory",
        description="'memory', redis://host:port/db, or redis+cluster://host:port[,host:port...]",
    )
    sold_out_window_s: float = Field(
        0.2,
        ge=0,
        le=5,
        description="Redis engine: a sold-out answer is given again in-process this long",
    )
    payment_provider: str = Field("sandbox", description="'sandbox' or 'stripe'")
    stripe_api_key: str = ""
    stripe_api_base: str | None = None
    stripe_webhook_secret: str = ""
    stripe_no_redirects: bool = Field(
        True,
        description="send automatic_payment_methods={enabled, allow_redirects: never} so "
        "Stripe confirms cards without a return_url; false only for localstripe, which "
        "rejects the parameter",
    )
    buyer_token_secret: str = Field(
        DEV_BUYER_SECRET, description="HMAC secret shared with the creator's site"
    )
    buyer_token_keys: dict[str, str] = Field(
        default_factory=dict,
        description="HS256 secrets shared with the creator's site, by key id (the JWT's "
        "`kid`), as a JSON object; list the current key first and keep the previous one "
        "during a rotation. Empty: the one key `default` = buyer_token_secret (unless a "
        "JWKS is set)",
    )
    buyer_token_kid: str = Field(
        "", description="key id `dropline buyer-token` mints with (default: the first key)"
    )
    buyer_token_jwks_url: str = Field(
        "",
        description="http(s) URL of the creator's JWKS: EdDSA/RS256 public keys by `kid`; "
        "dropline then needs no secret that can mint buyer tokens",
    )
    buyer_token_jwks_refresh_s: float = Field(
        300.0, ge=1, le=86_400, description="how long a fetched JWKS is used before refetching"
    )
    buyer_token_issuer: str = Field("", description="required `iss` claim when set")
    buyer_token_audience: str = Field("", description="required `aud` claim when set")
    buyer_token_leeway_s: float = Field(
        30.0, ge=0, le=300, description="clock skew allowed on `exp`, `nbf` and `iat`"
    )
    buyer_token_v1: bool = Field(
        True,
        description="also accept the deprecated `v1.payload.signature` tokens (HMAC with "
        "buyer_token_secret); removed in the next release",
    )
    ui_session_secret: str = Field(
        "", description="signs web UI session cookies; derived from the buyer secret if empty"
    )
    paying_cap_s: int = Field(300, ge=10, le=3600, description="max hold life once paying")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    background_tasks: bool = Field(True, description="run expiry/outbox work in-process")
    expiry_interval_s: float = 0.25
    reconcile_interval_s: float = 5.0
    recover_after_s: float = Field(
        30.0,
        ge=0,
        description="a checkout's finisher keeps others off it this long (its claim's "
        "lease); a checkout left processing longer is finished by recovery",
    )
    group_commit: bool = Field(
        True,
        description="paid orders, payments being started and sandbox payment calls that "
        "arrive together are written in one transaction (per process; 'off' writes each "
        "in its own)",
    )
    data_dir: str = "./.dropline"
    # -- photo storage (buyers' problem photos; see docs/learning.md)
    photo_bucket: str = Field(
        "", description="an S3-compatible bucket for photos; empty: files under data_dir"
    )
    s3_endpoint_url: str = Field(
        "", description="the S3-compatible service's URL (MinIO, R2 ...); empty: AWS"
    )
    s3_region: str = "us-east-1"
    s3_access_key_id: str = Field("", description="empty: boto3's usual credential chain")
    s3_secret_access_key: str = ""
    s3_prefix: str = Field("", max_length=200, description="a key prefix inside the bucket")
    # -- webhooks out (see docs/fulfilment.md)
    webhook_retry_schedule: list[int] = Field(
        [5, 300, 1800, 7200, 18000, 36000, 36000, 36000],
        description="seconds before attempt 2, 3, ...; JSON list (default: 9 attempts, ~37.6 h)",
    )
    webhook_timeout_s: float = Field(10.0, gt=0, le=60)
    webhook_lease_s: float = Field(60.0, gt=0, description="claim lease; > webhook_timeout_s")
    webhook_pause_after: int = Field(20, ge=1, description="consecutive failures → pause")
    webhook_pause_after_s: float = Field(
        6 * 3600, ge=0, description="...that also lasted this long (a blip does not pause)"
    )
    webhook_interval_s: float = 1.0
    # -- fulfilment SLA
    sla_hours: int = Field(48, ge=1, description="ship-by = paid_at + hours")
    return_window_days: int = Field(
        30, ge=0, le=3650, description="days after delivery (or shipping) a return can be opened"
    )
    sla_business_days: int | None = Field(None, ge=1, description="if set, Mon–Fri days")
    sla_at_risk_hours: int = Field(12, ge=0)
    # -- buyer messages
    mailer: str = Field("database", description="'database' (embedded) or 'smtp'")
    shop_name: str = "dropline"
    order_prefix: str = Field(
        "DL",
        pattern=r"^[A-Z][A-Z0-9]{0,7}$",
        description="the shop's order-number prefix: DL makes DL-1042",
    )
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_tls: str = Field("starttls", description="'none', 'starttls' or 'tls'")
    smtp_from: str = ""
    smtp_timeout_s: float = 30.0
    message_interval_s: float = 2.0
    message_rate_per_s: float = Field(
        50.0,
        gt=0,
        le=100_000,
        description="at most this many buyer messages a second from a process that runs "
        "the send job: your mail provider's sending limit",
    )
    log_level: str = "info"
    log_format: Literal["text", "json"] = Field(
        "text",
        description="'text' (plain lines, the default for make run) or 'json' (one JSON "
        "object per line with the request id)",
    )
    metrics: bool = Field(
        True,
        description="Prometheus metrics at /metrics (ops key); false records nothing",
    )
    gc_gen0: int = Field(
        20_000,
        description="server processes collect Python's young GC generation every this many "
        "net allocations after freezing their start-up objects (0: Python's default, 700)",
    )
    otel: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry spans, metrics and logs; off by default "
        "because every request pays to ask the global providers even when none is set",
    )
    hot_path: bool = Field(
        True,
        description="answer POST /v1/drops/{id}/holds and POST /v1/checkouts straight from "
        "ASGI (api/hotpath.py); false sends them through the FastAPI routes",
    )
    bench_endpoints: bool = Field(
        False, description="mount the /bench baselines used by `make bench`; never in production"
    )
    max_body_bytes: int = Field(
        256 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="largest request body on most routes (413 above it, before it is read); "
        "tracking CSV imports and QC photos have their own larger limits",
    )
    max_json_depth: int = Field(32, ge=4, le=256, description="deepest JSON nesting accepted")
    max_json_items: int = Field(
        1000, ge=10, le=1_000_000, description="longest JSON list accepted in a request body"
    )
    request_read_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="a request whose headers and body have not all arrived this long after "
        "it began gets 408 and the connection is closed (slow clients)",
    )
    ui_login_max_failures: int = Field(
        10, ge=1, le=1000, description="failed /ui logins per client address per window"
    )
    ui_login_window_s: float = Field(
        300, gt=0, le=86_400, description="the window of ui_login_max_failures, in seconds"
    )
    # -- readiness (see docs/readiness.md)
    readiness_gate: Literal["advise", "enforce"] = Field(
        "enforce",
        description="'enforce' (the default): a drop goes live only when its readiness "
        "checklist has no block, or with an override and a reason kept in its history (a "
        "scheduled start that is blocked does not happen); 'advise': the checklist is "
        "shown and going live is never refused (load tests, fixtures)",
    )
    payment_mode: Literal["test", "live"] = Field(
        "test", description="the mode the payment keys should be in when a drop goes live"
    )
    returns_policy: str = Field(
        "", description="the published returns policy: its URL or its text (the gate checks it)"
    )
    stripe_test_api_key: str = Field(
        "", description="a Stripe test key for rehearsals when DROPLINE_STRIPE_API_KEY is live"
    )
    test_payment_methods: dict[str, str] = Field(
        {},
        description="test payment methods for rehearsals and `dropline simulate`, by role "
        "(ok, decline, three_d_secure); JSON; default Stripe's pm_card_visa, "
        "pm_card_chargeDeclined, pm_card_threeDSecure2Required (the sandbox takes them too)",
    )
    rehearsal_buyers: int = Field(12, ge=4, le=500, description="simulated buyers per rehearsal")
    rehearsal_timeout_s: float = Field(
        30.0, gt=0, le=600, description="how long a rehearsal waits for each warehouse hand-off"
    )
    rehearsal_tracking_wait_s: float = Field(
        5.0, ge=0, le=600, description="a rehearsal waits this long for tracking, then simulates it"
    )
    rehearsal_email: str = Field(
        "", description="where a rehearsal's buyer messages go; default the SMTP sender"
    )
    allow_dev_secrets: bool = Field(
        False,
        description="start even though a development secret is in use where the service "
        "looks deployed (a demo on a LAN); /readyz warns while it is on",
    )

    @field_validator("buyer_token_keys")
    @classmethod
    def _long_hs256_keys(cls, keys: dict[str, str]) -> dict[str, str]:
        for kid, secret in keys.items():
            if not kid:
                raise ValueError("a buyer token key needs a non-empty key id")
            if len(secret.encode()) < MIN_HS256_KEY_BYTES:
                raise ValueError(
                    f"buyer token key {kid!r} is shorter than {MIN_HS256_KEY_BYTES} bytes "
                    "(RFC 7518 §3.2); use e.g. `openssl rand -hex 32`"
                )
        return keys

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class UnsafeSettings(Exception):
    """The settings would expose the service with a development secret."""


def _loopback(host: str | None) -> bool:
    if not host or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def production_signs(s: Settings) -> list[str]:
    """Why these settings look like a deployment rather than a laptop: each entry names
    the setting that says so."""
    signs = []
    if not _loopback(s.host):
        signs.append(f"DROPLINE_HOST={s.host} is not a loopback address")
    if s.database_url.startswith("postgresql"):
        signs.append("DROPLINE_DATABASE_URL is PostgreSQL")
    if s.engine_url.startswith("redis") and not all(
        _loopback(urlsplit(f"redis://{node}").hostname)
        for node in urlsplit(s.engine_url).netloc.rsplit("@", 1)[-1].split(",")
    ):
        signs.append("DROPLINE_ENGINE_URL points at another host")
    if s.stripe_api_key.startswith(("sk_live_", "rk_live_")):
        signs.append("DROPLINE_STRIPE_API_KEY is a live key")
    if s.public_url and not _loopback(urlsplit(s.public_url).hostname):
        signs.append(f"DROPLINE_PUBLIC_URL={s.public_url}")
    return signs


def dev_secrets(s: Settings) -> list[str]:
    """The development secrets in use, by the setting that holds them.

    The development buyer-token secret matters where it can verify a buyer token: as a
    ``DROPLINE_BUYER_TOKEN_KEYS`` entry; as ``DROPLINE_BUYER_TOKEN_SECRET`` while v1
    tokens are accepted or while it is the only HS256 key (no keys, no JWKS). The UI
    session secret is derived from the buyer token secret when unset."""
    found = []
    if DEV_BUYER_SECRET in s.buyer_token_keys.values():
        found.append("DROPLINE_BUYER_TOKEN_KEYS")
    if s.buyer_token_secret == DEV_BUYER_SECRET:
        verifies = s.buyer_token_v1 or not (s.buyer_token_keys or s.buyer_token_jwks_url)
        if verifies:
            found.append("DROPLINE_BUYER_TOKEN_SECRET")
        if not s.ui_session_secret:
            found.append("DROPLINE_UI_SESSION_SECRET")
    return found


def unsafe_warnings(s: Settings) -> list[str]:
    """What ``/readyz`` reports while ``allow_dev_secrets`` lets an unsafe setup run."""
    if not (dev_secrets(s) and production_signs(s)):
        return []
    return [
        f"development secret in use ({', '.join(dev_secrets(s))}) although "
        f"{'; '.join(production_signs(s))}: anyone can mint buyer tokens "
        "(allowed by DROPLINE_ALLOW_DEV_SECRETS)"
    ]


def check_safe(s: Settings) -> None:
    """Refuse to serve with a development secret where the service looks deployed.

    The development buyer-token secret is public (it is in this file), so with it anyone
    can mint buyer tokens, buy past limits and read other buyers' orders. On loopback
    that is the point of ``make run``; anywhere else it is a hole. Raises
    ``UnsafeSettings`` with one line naming the settings, unless ``allow_dev_secrets``."""
    secrets, signs = dev_secrets(s), production_signs(s)
    if secrets and signs and not s.allow_dev_secrets:
        raise UnsafeSettings(
            f"refusing to start: {secrets[0]} is the development secret but {signs[0]}; "
            f"set {secrets[0]} (e.g. to the output of `openssl rand -hex 32`), or "
            "DROPLINE_ALLOW_DEV_SECRETS=true for a demo on a trusted network"
        )


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]

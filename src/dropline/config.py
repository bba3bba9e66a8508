"""Typed settings from the environment (prefix ``DROPLINE_``), built by a factory.

Nothing reads the environment at import time: ``load_settings()`` is called by the
entrypoints, and tests pass a ``Settings`` they build themselves.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_BUYER_SECRET = "dev-only-buyer-token-secret-change-me"


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
    engine_url: str = Field("memory", description="'memory' or redis://host:port/db")
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
        30.0, ge=0, description="a checkout left processing this long is finished by recovery"
    )
    data_dir: str = "./.dropline"
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
    log_level: str = "info"
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
        description="answer POST /v1/drops/{id}/holds straight from ASGI (api/hotpath.py); "
        "false sends it through the FastAPI route",
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
    allow_dev_secrets: bool = Field(
        False,
        description="start even though a development secret is in use where the service "
        "looks deployed (a demo on a LAN); /readyz warns while it is on",
    )

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
    if s.engine_url.startswith("redis") and not _loopback(urlsplit(s.engine_url).hostname):
        signs.append("DROPLINE_ENGINE_URL points at another host")
    if s.stripe_api_key.startswith(("sk_live_", "rk_live_")):
        signs.append("DROPLINE_STRIPE_API_KEY is a live key")
    if s.public_url and not _loopback(urlsplit(s.public_url).hostname):
        signs.append(f"DROPLINE_PUBLIC_URL={s.public_url}")
    return signs


def dev_secrets(s: Settings) -> list[str]:
    """The development secrets in use. The UI session secret is derived from the buyer
    token secret when unset, so it is a development secret exactly when that one is."""
    if s.buyer_token_secret != DEV_BUYER_SECRET:
        return []
    found = ["DROPLINE_BUYER_TOKEN_SECRET"]
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

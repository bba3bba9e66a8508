"""Typed settings from the environment (prefix ``DROPLINE_``), built by a factory.

Nothing reads the environment at import time: ``load_settings()`` is called by the
entrypoints, and tests pass a ``Settings`` they build themselves.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_BUYER_SECRET = "dev-only-buyer-token-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DROPLINE_", extra="ignore")

    database_url: str = Field(
        "sqlite+aiosqlite:///./dropline.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///file.db or postgresql+asyncpg://...",
    )
    engine_url: str = Field("memory", description="'memory' or redis://host:port/db")
    payment_provider: str = Field("sandbox", description="'sandbox' or 'stripe'")
    stripe_api_key: str = ""
    stripe_api_base: str | None = None
    stripe_webhook_secret: str = ""
    buyer_token_secret: str = Field(
        DEV_BUYER_SECRET, description="HMAC secret shared with the creator's site"
    )
    paying_cap_s: int = Field(300, ge=10, le=3600, description="max hold life once paying")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    background_tasks: bool = Field(True, description="run expiry/outbox work in-process")
    expiry_interval_s: float = 0.25
    reconcile_interval_s: float = 5.0
    data_dir: str = "./.dropline"
    log_level: str = "info"
    bench_endpoints: bool = Field(
        False, description="mount the /bench baselines used by `make bench`; never in production"
    )

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]

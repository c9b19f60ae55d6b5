"""One typed settings tree, built once from the environment at the edge and passed down."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings of every mmtasks process; each field is an environment variable of the same name."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", alias="REDIS_URL")
    broker_url: str | None = Field(default=None, alias="CELERY_BROKER_URL")
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres", alias="DATABASE_URL"
    )
    connector_addr: str = Field(default="127.0.0.1:50051", alias="CONNECTOR_ADDR")
    connector_token: str | None = Field(default=None, alias="CONNECTOR_TOKEN")
    connector_tls_ca: Path | None = Field(default=None, alias="CONNECTOR_TLS_CA")
    connector_timeout_s: float = Field(default=5.0, alias="CONNECTOR_TIMEOUT_S")
    sentry_dsn: str | None = Field(default=None, alias="SENTRY_DSN")
    data_dir: Path = Field(default=Path(".data"), alias="MMTASKS_DATA_DIR")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    # A crashed worker's symbol lock blocks its successor for at most this long.
    lock_ttl_ms: int = Field(default=10_000, ge=1000, alias="MMTASKS_LOCK_TTL_MS")

    @property
    def celery_broker_url(self) -> str:
        """Return the broker URL: CELERY_BROKER_URL, else the Redis URL."""
        return self.broker_url or self.redis_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment once."""
    return Settings()

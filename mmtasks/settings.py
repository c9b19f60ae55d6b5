"""One typed settings tree, built once from the environment at the edge and passed down.

Where a URL comes from, first match wins:
1. the environment (`REDIS_URL`, `DATABASE_URL`, `CONNECTOR_ADDR`, ...);
2. the services file that a running local fleet (`make run`) writes, `.data/run/services.json`
   (or `MMTASKS_SERVICES_FILE`), so `celery -A mmtasks ...` and `mmtasks ...` run from the
   project folder talk to that fleet; a file left by a runner that is gone is ignored;
3. the defaults below (the standard local ports).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_SERVICES_FILE = Path(".data/run/services.json")
# The variables a runner passes to the processes it starts (and writes to the services file).
SERVICE_VARS = ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL", "CONNECTOR_ADDR")


class Settings(BaseSettings):
    """Settings of every mmtasks process; each field is an environment variable of the same name."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", alias="REDIS_URL")
    broker_url: str | None = Field(default=None, alias="CELERY_BROKER_URL")
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres", alias="DATABASE_URL"
    )
    connector_addr: str = Field(default="127.0.0.1:50051", alias="CONNECTOR_ADDR")
    # Several venues in one fleet: each venue's connector, `binanceusdm=HOST:PORT,binance=...`.
    # A symbol trades on its registry `exchange`; a venue not named here uses CONNECTOR_ADDR.
    venues: str = Field(default="", alias="MMTASKS_VENUES")
    connector_token: str | None = Field(default=None, alias="CONNECTOR_TOKEN")
    connector_tls_ca: Path | None = Field(default=None, alias="CONNECTOR_TLS_CA")
    connector_timeout_s: float = Field(default=5.0, alias="CONNECTOR_TIMEOUT_S")
    # The fleet-wide rate budget of a real venue (docs/venue.md): limits below the venue's,
    # e.g. for a second bot on the same key (unset: the venue's own), and the name of the IP
    # this host's requests leave from (hosts behind one address share a name).
    budget_weight_per_minute: int | None = Field(
        default=None, gt=0, alias="MMTASKS_BUDGET_WEIGHT_PER_MIN"
    )
    budget_orders_per_10s: int | None = Field(
        default=None, gt=0, alias="MMTASKS_BUDGET_ORDERS_PER_10S"
    )
    budget_orders_per_minute: int | None = Field(
        default=None, gt=0, alias="MMTASKS_BUDGET_ORDERS_PER_MIN"
    )
    venue_ip: str = Field(default="default", alias="MMTASKS_VENUE_IP")
    sentry_dsn: str | None = Field(default=None, alias="SENTRY_DSN")
    data_dir: Path = Field(default=Path(".data"), alias="MMTASKS_DATA_DIR")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    # This host's name in lock tokens and status (Celery's %h in node names is the hostname
    # too); set it where hosts share a hostname (containers, network namespaces).
    host: str = Field(default_factory=socket.gethostname, alias="MMTASKS_HOST")
    # Distinct hosts that must consume every symbol queue: 2 or more in production (a standby
    # host takes over a symbol when its host dies); a symbol consumed on fewer is flagged.
    min_hosts: int = Field(default=1, ge=1, alias="MMTASKS_MIN_HOSTS")
    # A crashed worker's symbol lock blocks its successor for at most this long.
    lock_ttl_ms: int = Field(default=10_000, ge=1000, alias="MMTASKS_LOCK_TTL_MS")
    # Self-healing: a temporary fault (connector, Redis, Postgres) makes a symbol DEGRADED and
    # retried with capped exponential backoff; only one that lasts this long moves it to ERROR.
    degraded_to_error_s: float = Field(default=60.0, gt=0, alias="MMTASKS_DEGRADED_TO_ERROR_S")
    retry_backoff_max_s: float = Field(default=10.0, gt=0, alias="MMTASKS_RETRY_BACKOFF_MAX_S")
    # A symbol in ERROR is recovered by beat (reconcile, resume) this many times per window,
    # the n-th attempt recovery_backoff_s x 2^(n-1) after the previous one.
    recovery_attempts: int = Field(default=3, ge=0, alias="MMTASKS_RECOVERY_ATTEMPTS")
    recovery_backoff_s: float = Field(default=5.0, gt=0, alias="MMTASKS_RECOVERY_BACKOFF_S")
    recovery_window_s: float = Field(default=3600.0, gt=0, alias="MMTASKS_RECOVERY_WINDOW_S")
    # Fleet risk (docs/risk.md): beat runs the risk task this often.
    risk_every_s: float = Field(default=5.0, ge=0.5, le=300, alias="MMTASKS_RISK_EVERY_S")
    # Alerts: apprise URLs (slack://, tgram://, json://...), separated by spaces or commas;
    # the same alert key is sent at most once per window, a burst gathered for gather_s first.
    alert_urls: str = Field(default="", alias="ALERT_URLS")
    alert_window_s: float = Field(default=300.0, gt=0, alias="ALERT_WINDOW_S")
    alert_gather_s: float = Field(default=2.0, ge=0, alias="ALERT_GATHER_S")
    alert_max_retries: int = Field(default=8, ge=0, alias="ALERT_MAX_RETRIES")
    # Fills waiting in Redis for the ledger, per symbol, above which an alert goes out.
    ledger_backlog_alert: int = Field(default=500, ge=1, alias="MMTASKS_LEDGER_BACKLOG_ALERT")
    sentry_environment: str = Field(default="production", alias="SENTRY_ENVIRONMENT")
    # What Redis keeps per symbol at steady state (state/retention.py, docs/operations.md
    # "Redis memory"): processed inbox entries and relayed outbox entries kept behind their
    # cursors, counted trades kept behind the newest (at least twice reconcile's 5-minute
    # look-back), the fleet event stream by count and age, and how long a removed symbol's
    # keys stay before they are deleted.
    inbox_keep: int = Field(default=500, ge=100, alias="MMTASKS_INBOX_KEEP")
    outbox_keep: int = Field(default=200, ge=10, alias="MMTASKS_OUTBOX_KEEP")
    trades_keep_s: float = Field(default=600.0, ge=600, alias="MMTASKS_TRADES_KEEP_S")
    events_max_len: int = Field(default=10_000, ge=100, alias="MMTASKS_EVENTS_MAX_LEN")
    events_max_age_s: float = Field(default=3600.0, ge=60, alias="MMTASKS_EVENTS_MAX_AGE_S")
    removed_grace_s: float = Field(default=3600.0, ge=0, alias="MMTASKS_REMOVED_GRACE_S")

    @property
    def alert_targets(self) -> list[str]:
        """Return the alert URLs, in the order given."""
        return [u for u in self.alert_urls.replace(",", " ").split() if u]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read only what build_settings passes: it decides between environment and file."""
        return (init_settings,)

    # Where each URL came from ("env", "services file ...", "runner"): for error messages.
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def venue_connectors(self) -> dict[str, str]:
        """Return venue -> connector address from MMTASKS_VENUES."""
        out: dict[str, str] = {}
        for item in self.venues.replace(";", ",").split(","):
            if not item.strip():
                continue
            name, sep, addr = item.strip().partition("=")
            if not sep or not name or not addr:
                raise ValueError(
                    f"MMTASKS_VENUES must be VENUE=HOST:PORT[,VENUE=HOST:PORT], received {item!r}"
                )
            out[name.strip()] = addr.strip()
        return out

    def connector_for(self, venue: str) -> str:
        """Return the address of the connector that serves venue."""
        return self.venue_connectors.get(venue, self.connector_addr)

    @property
    def celery_broker_url(self) -> str:
        """Return the broker URL: CELERY_BROKER_URL, else the Redis URL."""
        return self.broker_url or self.redis_url

    def with_services(self, **urls: str) -> Settings:
        """Return a copy with service URLs replaced, e.g. with_services(REDIS_URL=...)."""
        unknown = set(urls) - set(SERVICE_VARS)
        if unknown:
            raise ValueError(f"unknown service variables {sorted(unknown)}; use {SERVICE_VARS}")
        fields = {_FIELD_OF[name]: value for name, value in urls.items()}
        copy = self.model_copy(update=fields)
        copy._sources = {**self._sources, **dict.fromkeys(urls, "runner")}
        return copy

    def service_env(self) -> dict[str, str]:
        """Return the service variables to pass to a child process (all of them, explicit)."""
        return {
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.celery_broker_url,
            "DATABASE_URL": self.database_url,
            "CONNECTOR_ADDR": self.connector_addr,
        }

    def where(self, var: str) -> str:
        """Return where the value of var came from, for messages that must say so."""
        return self._sources.get(var, "default")


_FIELD_OF = {
    "REDIS_URL": "redis_url",
    "CELERY_BROKER_URL": "broker_url",
    "DATABASE_URL": "database_url",
    "CONNECTOR_ADDR": "connector_addr",
}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def read_services_file(path: Path) -> dict[str, str]:
    """Return the service URLs a running local fleet wrote to path ({} if absent or stale)."""
    try:
        data: Any = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or not _pid_alive(int(data.get("pid") or 0) or -1):
        return {}
    return {k: str(v) for k, v in data.items() if k in SERVICE_VARS and v}


def write_services_file(path: Path, settings: Settings, pid: int) -> None:
    """Write the service URLs of a running fleet to path (atomically), for other commands."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": pid, **settings.service_env()}, indent=2) + "\n")
    tmp.replace(path)


def build_settings(environ: Mapping[str, str]) -> Settings:
    """Return settings from environ, with the running fleet's services file under it."""
    services_path = Path(environ.get("MMTASKS_SERVICES_FILE") or DEFAULT_SERVICES_FILE)
    from_file = {k: v for k, v in read_services_file(services_path).items() if not environ.get(k)}
    sources = {var: "env" for var in SERVICE_VARS if environ.get(var)}
    sources |= dict.fromkeys(from_file, f"services file {services_path}")
    known = {str(f.alias) for f in Settings.model_fields.values() if f.alias}
    values = {k: v for k, v in environ.items() if k in known and v}
    settings = Settings.model_validate({**values, **from_file})
    settings._sources = sources
    return settings


def settings_for(redis_url: str, database_url: str | None = None) -> Settings:
    """Return the process's settings pointed at redis_url (broker too) and database_url."""
    urls = {"REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url}
    if database_url:
        urls["DATABASE_URL"] = database_url
    return get_settings().with_services(**urls)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment once."""
    return build_settings(os.environ)

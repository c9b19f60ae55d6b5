"""Sentry for every process when `SENTRY_DSN` is set: one `init_sentry(service)` for all.

Celery workers and beat are set up here through Celery's signals (the Celery integration, beat
tasks monitored as crons); the bridge and the connector call `init_sentry("bridge")` /
`init_sentry("connector")` at start. Symbol tasks tag their events with the symbol
(`tag_symbol`). No secret leaves in an event: default PII is off, and every value of the
settings that holds a secret (tokens, passwords in URLs, alert webhook URLs, the DSN's key) is
replaced wherever it appears in an event before it is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from celery.signals import beat_init, celeryd_init

from mmtasks.settings import Settings, get_settings

log = logging.getLogger(__name__)

REDACTED = "[redacted]"


def secrets_of(settings: Settings) -> list[str]:
    """Return every secret value settings hold, longest first."""
    found: set[str] = set()
    if settings.connector_token:
        found.add(settings.connector_token)
    for url in (settings.redis_url, settings.celery_broker_url, settings.database_url):
        password = urlsplit(url).password
        if password:
            found.add(password)
    found.update(settings.alert_targets)
    if settings.sentry_dsn and urlsplit(settings.sentry_dsn).username:
        found.add(str(urlsplit(settings.sentry_dsn).username))
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """Return value with every secret in its strings replaced, however deeply nested."""
    secrets = list(secrets)
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, secrets) for v in value]
    return value


def init_sentry(service: str, settings: Settings | None = None, *, celery: bool = False) -> bool:
    """Start Sentry for this process when SENTRY_DSN is set; return True if it did."""
    settings = settings or get_settings()
    if not settings.sentry_dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration

    integrations: list[Any] = [LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)]
    if celery:
        from sentry_sdk.integrations.celery import CeleryIntegration

        integrations.append(CeleryIntegration(monitor_beat_tasks=True))
    secrets = secrets_of(settings)

    def before_send(event: Any, hint: Any) -> Any:
        return scrub(event, secrets)

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment,
        send_default_pii=False,
        integrations=integrations,
        before_send=before_send,
        before_send_transaction=before_send,
        traces_sample_rate=0.0,
    )
    sentry_sdk.set_tag("service", service)
    log.info("Sentry enabled for %s (environment %s)", service, settings.sentry_environment)
    return True


def tag_symbol(symbol: str) -> None:
    """Tag what Sentry records in the current task with the symbol."""
    import sentry_sdk

    sentry_sdk.set_tag("symbol", symbol)


@celeryd_init.connect
def _on_worker_start(**_: Any) -> None:
    init_sentry("worker", celery=True)


@beat_init.connect
def _on_beat_start(**_: Any) -> None:
    init_sentry("beat", celery=True)

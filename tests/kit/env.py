"""The environment every fleet process of a test gets, and the in-test Celery app's servers."""

from __future__ import annotations


def fleet_env(
    redis_url: str,
    database_url: str | None = None,
    connector_addr: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """Return the service variables of a test fleet (broker on the test Redis), plus extra."""
    env = {"REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    if connector_addr is not None:
        env["CONNECTOR_ADDR"] = connector_addr
    return env | extra


def point_app_at(redis_url: str) -> None:
    """Point the in-test Celery app (sending tasks, results, remote control) at redis_url."""
    from mmtasks.celery import app, use_services
    from mmtasks.settings import settings_for

    use_services(app, settings_for(redis_url))

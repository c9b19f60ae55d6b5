"""Reaching the services: Redis, Postgres and the control worker, with errors that name the fix."""

from __future__ import annotations

import re
from typing import Any

from mmtasks.settings import Settings

ANSWER_TIMEOUT_S = 15.0
CONNECT_TIMEOUT_S = 3
EXIT_REFUSED = 1
EXIT_UNREACHABLE = 3
START_CONTROL = "celery -A mmtasks worker -Q control -c 2 (or `make run`)"


class Unreachable(Exception):
    """A service or worker did not answer; the message is the one line to print."""


def _redact(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def unreachable(service: str, var: str, url: str, settings: Settings, exc: object) -> Unreachable:
    """Return the one-line error for a service that cannot be reached, with where and a fix."""
    detail = " ".join(str(exc).split())[:160].rstrip(".") or type(exc).__name__
    return Unreachable(
        f"cannot reach {service} at {_redact(url)} ({var} from {settings.where(var)}): {detail}; "
        f"start {service} or set {var} (or run `make run` and call from the project folder)"
    )


def check_redis(settings: Settings) -> Any:
    """Return a Redis client on settings' Redis after a ping; raise Unreachable within seconds."""
    import redis

    pairs = [("REDIS_URL", settings.redis_url)]
    if settings.celery_broker_url != settings.redis_url:
        pairs.append(("CELERY_BROKER_URL", settings.celery_broker_url))
    clients = []
    for var, url in pairs:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=CONNECT_TIMEOUT_S,
            decode_responses=True,
        )
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            raise unreachable("Redis", var, url, settings, exc) from exc
        clients.append(client)
    return clients[0]


def connect_postgres(settings: Settings) -> Any:
    """Return a Postgres connection on the ledger; raise Unreachable within seconds."""
    import psycopg

    try:
        return psycopg.connect(settings.database_url, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.OperationalError as exc:
        raise unreachable("Postgres", "DATABASE_URL", settings.database_url, settings, exc) from exc


def call_admin(
    settings: Settings, task: str, kwargs: dict[str, Any], timeout_s: float
) -> dict[str, Any]:
    """Send mmtasks.admin.<task> and return its answer; raise Unreachable if none comes."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    from mmtasks.celery import CONTROL_QUEUE, make_app

    check_redis(settings)
    app = make_app(settings)
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_max_retries = 0
    # Unanswered, the call expires: a control worker started later must not apply it unasked.
    result = app.send_task(f"mmtasks.admin.{task}", kwargs=kwargs, expires=timeout_s)
    try:
        answer = result.get(timeout=timeout_s, propagate=False)
    except CeleryTimeout as exc:
        raise Unreachable(
            f"no answer to mmtasks.admin.{task} within {timeout_s:.0f}s: no worker consumes the "
            f"`{CONTROL_QUEUE}` queue; start one with {START_CONTROL}. Nothing was changed "
            "(the call expires unanswered)"
        ) from exc
    finally:
        app.backend.remove_pending_result(result)  # unsubscribe now, not at interpreter exit
    if not isinstance(answer, dict):  # the task failed: a traceback is in the worker's log
        return {"ok": False, "task": task, "error": f"task failed: {answer!r}"}
    return answer


# Output -----------------------------------------------------------------------------------

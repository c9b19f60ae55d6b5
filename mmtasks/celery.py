"""The Celery app: `celery -A mmtasks worker -Q btcusdt` finds it here.

Settings follow the design's ordering promise: JSON only, acks late, prefetch 1, one process per
worker by default, no retries/countdown/ETA/priority on symbol queues, and a hard time limit
well below the broker's visibility timeout so a stuck step is killed before Redis redelivers.
Order comes from the symbol's inbox and cursor, not from the queue.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from celery import Celery
from celery.exceptions import CPendingDeprecationWarning
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    celeryd_after_setup,
    task_retry,
)
from celery.worker.consumer import Consumer
from kombu import Queue  # type: ignore[attr-defined]  # kombu ships no type hints
from kombu.common import ignore_errors

from mmtasks.logging_setup import on_celery_logger
from mmtasks.settings import Settings, get_settings

log = logging.getLogger(__name__)

SYMBOL_TASK_PREFIX = "mmtasks.symbol."
CONTROL_QUEUE = "control"
VISIBILITY_TIMEOUT_S = 3600
TASK_TIME_LIMIT_S = 300
# One Redis list per queue. kombu's Redis transport keeps four by default, one per priority
# step, and names every one of them in the BRPOP it sends again after each message it takes:
# 128 keys for a worker process over 32 symbol queues, encoded and sent per task (a quarter of
# such a process's time in a profile, yappi's CPU clock). No task here has a priority.
BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": VISIBILITY_TIMEOUT_S, "priority_steps": [0]}


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> Any:
    """Send a symbol task to the queue named after its symbol, everything else to control."""
    if name.startswith(SYMBOL_TASK_PREFIX):
        symbol = (kwargs or {}).get("symbol") or (args[0] if args else None)
        if isinstance(symbol, str) and symbol:
            return {"queue": symbol.lower()}
    return {"queue": CONTROL_QUEUE}


def silence_cancel_warning(**_: Any) -> None:
    """Silence the warning Celery gives on every broker loss: that Celery 6 will cancel running
    acks-late tasks (`worker_cancel_long_running_tasks_on_connection_loss`).

    It is given whatever that setting says but True, and True would only log a failure here:
    the thread pool cannot cancel a task. A step needs neither: its lock and inbox cursor make a
    redelivered task change nothing the first run committed (DESIGN.md's ordering promise).
    Only this warning goes; any other of Celery's still shows. Given at import and again
    after a worker's logging setup (`celeryd_after_setup`), which puts `always` for Celery's
    pending deprecations in front of every filter given before it.
    """
    warnings.filterwarnings(
        "ignore",
        message=r"\s*In Celery 5\.1 we introduced an optional breaking change",
        category=CPendingDeprecationWarning,
    )


silence_cancel_warning()
celeryd_after_setup.connect(silence_cancel_warning, weak=False)


def log_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    """Log a task's retry at WARNING (Celery's `task_retry`), unless the task says it logs its
    own (`logs_own_retries=True`, as alert delivery does, with its target and attempt).

    Celery's own line for a retry is INFO, from a logger that takes only WARNING unless DEBUG is
    on (mmtasks/logging_setup.py: its per-task lines cost every task)."""
    if getattr(sender, "logs_own_retries", False):
        return
    name = getattr(request, "task", None) or getattr(sender, "name", "?")
    log.warning("task retries task=%s id=%s reason=%s", name, getattr(request, "id", "?"), reason)


task_retry.connect(log_retry, weak=False)


class BrokerLossConsumer(Consumer):  # type: ignore[misc]  # Celery ships no type hints
    """Celery's worker consumer, which survives a restart of redis-server (`worker_consumer`).

    When the broker connection is lost, Celery tears it down with `connection.collect()` and
    then `connection.close()`. With kombu's Redis transport, closing the task channel while a
    BRPOP is in flight (the loss was noticed on another socket first, e.g. the remote-control
    subscription) first reads that BRPOP's reply: the dead socket raises before the channel
    counts as closed. If another channel then fails to close, `collect()` stops closing the
    rest and drops the transport's client anyway; `close()` closes the task channel again,
    which restores its unacked messages through a pool made from that missing client:
    AttributeError in kombu's `_connparams`, which Celery does not count as a connection
    error, so the worker exits instead of reconnecting (docs/operations.md, "Broker loss").
    Closing the task channel first, while the client is still there, takes that path away.
    """

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        """Close the task channel, then tear down the lost connection as Celery does."""
        close_task_channel(self)
        super().on_connection_error_after_connected(exc)


def close_task_channel(consumer: Any) -> None:
    """Close consumer's task channel, ignoring broker errors (Redis may well be down)."""
    channel = getattr(consumer.task_consumer, "channel", None)
    # The first close may stop at the dead BRPOP's reply; that read clears the BRPOP, so the
    # second gets past it, marks the channel closed and tries to restore its unacked messages
    # (they stay in Redis's unacked hash for the visibility timeout when Redis is unreachable).
    for _attempt in range(2):
        if channel is None or channel.closed:
            return
        ignore_errors(consumer.connection, channel.close)  # type: ignore[no-untyped-call]  # (kombu)


def use_services(app: Celery, settings: Settings) -> Celery:
    """Point app's broker and result backend at settings' Redis (both, never one alone)."""
    app.conf.broker_url = settings.celery_broker_url
    app.conf.result_backend = settings.redis_url
    return app


def make_app(settings: Settings | None = None) -> Celery:
    """Build the mmtasks Celery app from settings (the process's own when not given)."""
    settings = settings or get_settings()
    app = Celery("mmtasks")
    use_services(app, settings)
    app.conf.update(
        broker_transport_options=BROKER_TRANSPORT_OPTIONS,
        result_backend_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        broker_connection_retry_on_startup=True,
        worker_consumer="mmtasks.celery:BrokerLossConsumer",
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        task_time_limit=TASK_TIME_LIMIT_S,
        task_soft_time_limit=TASK_TIME_LIMIT_S - 30,
        task_ignore_result=True,
        result_expires=24 * 3600,
        task_default_queue=CONTROL_QUEUE,
        task_queues=[Queue(CONTROL_QUEUE)],  # type: ignore[no-untyped-call]  # (kombu)
        task_create_missing_queues=True,
        task_routes=(route_task,),
        # Task events only where a worker asks for them (`-E`: the control worker): a symbol
        # worker's per-tick tasks would each publish three (docs/operations.md).
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_hijack_root_logger=False,
        beat_scheduler="mmtasks.beatlock:LockedScheduler",
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        include=[
            "mmtasks.tasks.symbol",
            "mmtasks.tasks.admin",
            "mmtasks.tasks.beat",
            "mmtasks.tasks.alerts",
        ],
    )
    return app


app = make_app()

after_setup_logger.connect(on_celery_logger)  # the workers' and beat's lines: trading format
after_setup_task_logger.connect(on_celery_logger)
import mmtasks.observability  # noqa: E402, F401 - Sentry on workers and beat when SENTRY_DSN is set

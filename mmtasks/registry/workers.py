"""Ask running Celery workers what they consume, and attach a symbol queue to one named worker.

Remote control goes through the broker (pidbox); a worker busy in a `--pool solo` task cannot
answer, so "no reply" means "not seen within the timeout", not "dead".
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from mmtasks.errors import TemporaryError, ValidationError

INSPECT_TIMEOUT_S = 1.0


def consumers_by_queue(app: Celery, timeout_s: float = INSPECT_TIMEOUT_S) -> dict[str, list[str]]:
    """Return queue name -> sorted names of the workers consuming it, from every worker's reply."""
    replies: dict[str, list[dict[str, Any]]] = (
        app.control.inspect(timeout=timeout_s).active_queues() or {}
    )
    out: dict[str, list[str]] = {}
    for worker, queues in replies.items():
        for queue in queues or []:
            out.setdefault(queue["name"], []).append(worker)
    return {name: sorted(workers) for name, workers in out.items()}


def is_running(app: Celery, worker: str, timeout_s: float = INSPECT_TIMEOUT_S) -> bool:
    """Return True when the worker named worker answers a ping within timeout_s."""
    replies = app.control.ping(destination=[worker], timeout=timeout_s) or []
    return any(worker in reply for reply in replies)


def check_consumer(app: Celery, queue: str, worker: str) -> None:
    """Raise ValidationError unless worker runs and no other worker consumes queue already."""
    if not is_running(app, worker):
        raise ValidationError(
            f"consumer {worker!r} did not answer a ping within {INSPECT_TIMEOUT_S:g}s; "
            "expected the node name of a running worker (see `celery -A mmtasks status`)"
        )
    others = [w for w in consumers_by_queue(app).get(queue, []) if w != worker]
    if others:
        raise ValidationError(
            f"consumer: queue {queue!r} is already consumed by {', '.join(others)}; "
            "a symbol queue takes exactly one consumer"
        )


def attach(app: Celery, queue: str, worker: str, timeout_s: float = 5.0) -> None:
    """Tell the one worker named worker to consume queue (never broadcast to all workers)."""
    answer = _control(app, "add_consumer", queue, worker, timeout_s)
    if answer is None or "ok" not in answer:
        raise TemporaryError(
            f"worker {worker!r} did not confirm consuming {queue!r} (reply {answer!r}); "
            "the symbol is registered: attach it with "
            f"`celery -A mmtasks control add_consumer {queue} -d {worker}`"
        )


def detach(app: Celery, queue: str, worker: str, timeout_s: float = 5.0) -> None:
    """Tell the one worker named worker to stop consuming queue; TemporaryError unconfirmed."""
    answer = _control(app, "cancel_consumer", queue, worker, timeout_s)
    if answer is None or "ok" not in answer:
        raise TemporaryError(
            f"worker {worker!r} did not confirm it stopped consuming {queue!r} (reply {answer!r})"
        )


def _control(
    app: Celery, action: str, queue: str, worker: str, timeout_s: float
) -> dict[str, Any] | None:
    """Send one remote-control action about queue to worker; return its answer, or None."""
    call = getattr(app.control, action)
    replies = call(queue, destination=[worker], reply=True, timeout=timeout_s) or []
    answer: dict[str, Any] | None = next((r[worker] for r in replies if worker in r), None)
    return answer

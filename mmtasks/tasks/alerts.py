"""Control-queue tasks that send alerts: gather a key's burst, deliver to each target."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import apprise
from celery import Task

from mmtasks.alerts import take
from mmtasks.celery import CONTROL_QUEUE, app
from mmtasks.runtime import get_runtime

log = logging.getLogger(__name__)

NOTIFY_TYPES = {
    "info": apprise.NotifyType.INFO,
    "warning": apprise.NotifyType.WARNING,
    "failure": apprise.NotifyType.FAILURE,
}
BACKOFF_MAX_S = 60


SEVERITY_RANK = {"info": 0, "warning": 1, "failure": 2}


def _clock(ms: Any) -> str:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).strftime("%H:%M:%S UTC")


def message(items: list[dict[str, Any]], count: int, window_s: float) -> tuple[str, str, str]:
    """Return the (title, body, severity) sent for count alerts of one key, gathered in order.

    One alert, or a burst of the same one, reads as itself (with its count); different alerts
    are listed in the order they happened, each with its time, figures and repeat count.
    """
    if not items:
        return "[mmtasks] alert", f"({count} alerts, their texts expired)", "warning"
    newest = items[-1]
    severity = max((str(i.get("severity", "warning")) for i in items), key=_rank)
    note = (
        f"\n(x{count}: {count} alerts of this kind, gathered into one message;"
        f" at most one per {window_s:g}s)"
    )
    if len(items) == 1 and int(newest.get("n", 1)) == count:
        body = str(newest.get("body", "")) + (note if count > 1 else "")
        return f"[mmtasks] {newest.get('title', 'alert')}", body, severity
    titles = {str(i.get("title", "")) for i in items}
    lines = []
    listed = sum(int(i.get("n", 1)) for i in items)
    if count > listed:
        lines.append(f"({count - listed} earlier alerts not listed)")
    for i in items:
        text = str(i.get("body", ""))
        if len(titles) > 1:
            text = f"{i.get('title', '')}: {text}"
        line = f"{_clock(i.get('first_ms', 0))} {text}"
        if int(i.get("n", 1)) > 1:
            line += f" (x{i['n']}, the last at {_clock(i.get('last_ms', 0))})"
        lines.append(line)
    title = str(newest.get("title", "alert"))
    if len(titles) > 1:
        title += f" (and {len(titles) - 1} other alerts, listed in order)"
    return f"[mmtasks] {title}", "\n".join(lines) + note, severity


def _rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, 1)


@app.task(name="mmtasks.alerts.flush", ignore_result=True, acks_late=True)
def flush(key: str, token: str = "") -> dict[str, Any]:
    """Send the alerts gathered under key as one message to every target.

    token: the due time the send was scheduled for (a send superseded by an urgent alert's
    earlier one finds another token there and takes nothing).
    """
    rt = get_runtime()
    settings = rt.settings
    count, items = take(rt.redis, key, settings.alert_window_s, token)
    if count == 0:
        return {"key": key, "count": 0}
    title, body, severity = message(items, count, settings.alert_window_s)
    for index in range(len(settings.alert_targets)):
        # The index, not the URL: webhook URLs hold secrets and task arguments are visible.
        deliver.apply_async(
            args=[index, title, body, severity], queue=CONTROL_QUEUE, ignore_result=True
        )
    return {"key": key, "count": count, "targets": len(settings.alert_targets)}


@app.task(
    name="mmtasks.alerts.deliver",
    bind=True,
    ignore_result=True,
    acks_late=True,
    logs_own_retries=True,  # its warning names the target and the attempt (mmtasks.celery)
)
def deliver(self: Task, index: int, title: str, body: str, severity: str) -> bool:
    """Send one message to target index of ALERT_URLS; retry with backoff when it fails."""
    settings = get_runtime().settings
    targets = settings.alert_targets
    if index >= len(targets):
        log.error("alert target %d is gone from ALERT_URLS (%d set): dropped", index, len(targets))
        return False
    notifier = apprise.Apprise()
    if not notifier.add(targets[index]):
        log.error("ALERT_URLS entry %d is not a URL apprise knows: alert dropped", index)
        return False
    if notifier.notify(
        title=title, body=body, notify_type=NOTIFY_TYPES.get(severity, apprise.NotifyType.WARNING)
    ):
        return True
    retries = self.request.retries
    countdown = min(2**retries, BACKOFF_MAX_S)
    if retries >= settings.alert_max_retries:  # retry() raises MaxRetriesExceededError below
        log.error("alert delivery to target %d failed (attempt %d); giving up", index, retries + 1)
    else:
        log.warning(
            "alert delivery to target %d failed (attempt %d); retrying in %ds",
            index,
            retries + 1,
            countdown,
        )
    raise self.retry(countdown=countdown, max_retries=settings.alert_max_retries)

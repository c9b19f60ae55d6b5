"""Control-queue tasks that send alerts: gather a key's burst, deliver to each target."""

from __future__ import annotations

import logging
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


def message(alert: dict[str, Any], count: int, window_s: float) -> tuple[str, str]:
    """Return the (title, body) sent for count alerts of one key, the newest one given."""
    title = f"[mmtasks] {alert.get('title', 'alert')}"
    body = str(alert.get("body", ""))
    if count > 1:
        body += f"\n(x{count}: {count} alerts of this kind, gathered into one message;"
        body += f" at most one per {window_s:g}s)"
    return title, body


@app.task(name="mmtasks.alerts.flush", ignore_result=True, acks_late=True)
def flush(key: str) -> dict[str, Any]:
    """Send the alerts gathered under key as one message to every target."""
    rt = get_runtime()
    settings = rt.settings
    count, alert = take(rt.redis, key, settings.alert_window_s)
    if count == 0:
        return {"key": key, "count": 0}
    title, body = message(alert, count, settings.alert_window_s)
    for index in range(len(settings.alert_targets)):
        # The index, not the URL: webhook URLs hold secrets and task arguments are visible.
        deliver.apply_async(
            args=[index, title, body, alert.get("severity", "warning")], queue=CONTROL_QUEUE
        )
    return {"key": key, "count": count, "targets": len(settings.alert_targets)}


@app.task(name="mmtasks.alerts.deliver", bind=True, ignore_result=True, acks_late=True)
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
    log.warning(
        "alert delivery to target %d failed (attempt %d); retrying in %ds",
        index,
        retries + 1,
        countdown,
    )
    raise self.retry(countdown=countdown, max_retries=settings.alert_max_retries)

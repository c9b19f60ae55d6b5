"""One notifier for the whole fleet: de-duplicated and rate limited in Redis, sent by Celery.

`alert(client, key, title, body)` may be called from any process (risk task, admin task, a
symbol worker) and costs one Redis round trip, plus one `send_task` for the first alert of a
burst. Alerts of the same key share counters in Redis, so across every worker:

- a burst is gathered for `ALERT_GATHER_S` and sent as one message with its count;
- the same key is sent at most once per `ALERT_WINDOW_S`; what arrives meanwhile is counted
  and sent, as one message, when the window ends.

Sending runs on the control queue (`mmtasks.alerts.flush`, then one `mmtasks.alerts.deliver`
per target URL, retried with exponential backoff), never in the caller: a slow or failing
Slack, Telegram or webhook endpoint cannot slow trading. Targets are apprise URLs in
`ALERT_URLS` (see docs/risk.md); with none set, alerts are only logged.
"""

from __future__ import annotations

import json
import logging
import re
from importlib import resources
from typing import Any

import redis

from mmtasks.settings import Settings, get_settings
from mmtasks.state.keys import AlertKeys

log = logging.getLogger(__name__)

NOTE_LUA = resources.files("mmtasks.alerts").joinpath("note.lua").read_text()
TAKE_LUA = resources.files("mmtasks.alerts").joinpath("take.lua").read_text()
FLUSH_TASK = "mmtasks.alerts.flush"
KEY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")
SCHEDULED_MARGIN_MS = 120_000  # a lost flush frees its key after the delay plus this
SEVERITIES = ("info", "warning", "failure")


def alert(
    client: redis.Redis,
    key: str,
    title: str,
    body: str,
    *,
    severity: str = "warning",
    settings: Settings | None = None,
) -> bool:
    """Note one alert of key; return True if this call scheduled the send of its burst."""
    settings = settings or get_settings()
    if not KEY_RE.match(key):
        raise ValueError(f"alert key must match {KEY_RE.pattern}, received {key!r}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, received {severity!r}")
    log.warning("alert key=%s title=%s body=%s", key, title, body)
    if not settings.alert_targets:
        return False
    k = AlertKeys(key)
    last = json.dumps({"title": title, "body": body, "severity": severity})
    gather_ms = int(settings.alert_gather_s * 1000)
    delay_ms = int(
        client.eval(
            NOTE_LUA,
            4,
            k.count,
            k.scheduled,
            k.gate,
            k.last,
            gather_ms,
            SCHEDULED_MARGIN_MS,
            last,
        )
    )
    if delay_ms < 0:
        return False  # a send of this key is already scheduled: it will carry this one's count
    from mmtasks.celery import CONTROL_QUEUE, app

    app.send_task(FLUSH_TASK, args=[key], queue=CONTROL_QUEUE, countdown=delay_ms / 1000)
    return True


def take(client: redis.Redis, key: str, window_s: float) -> tuple[int, dict[str, Any]]:
    """Return (count, newest alert) of key and reset it; a count > 0 starts its window."""
    k = AlertKeys(key)
    count, last = client.eval(
        TAKE_LUA, 4, k.count, k.scheduled, k.gate, k.last, int(window_s * 1000)
    )
    text = last.decode() if isinstance(last, bytes) else last
    return int(count), json.loads(text) if text else {}

"""One notifier for the whole fleet: de-duplicated and rate limited in Redis, sent by Celery.

`alert(client, key, title, body)` may be called from any process (risk task, admin task, a
symbol worker) and costs one Redis round trip, plus one `send_task` for the first alert of a
burst. Alerts of the same key share counters in Redis, so across every worker:

- a burst is gathered for `ALERT_GATHER_S` and sent as one message with its count;
- the same key is sent at most once per `ALERT_WINDOW_S`; what arrives meanwhile is gathered
  and sent, as one message listing each alert in order with its time, when the window ends;
- an *urgent* alert (a change to a more severe state: the fleet to REDUCING or HALTED, a symbol
  to ERROR, recovery exhausted) ignores the window: it is sent after the gather time, whatever
  was sent before it. Different alerts use different keys (a fleet transition's key names it,
  `fleet-state:REDUCING-HALTED`), so one never waits behind another's window.

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

MAX_ITEMS = 20  # distinct alerts listed in one message; the count covers the rest
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
    urgent: bool = False,
    settings: Settings | None = None,
) -> bool:
    """Note one alert of key; return True if this call scheduled the send of its burst.

    urgent: sent after the gather time even inside the key's window (a more severe state).
    """
    settings = settings or get_settings()
    if not KEY_RE.match(key):
        raise ValueError(f"alert key must match {KEY_RE.pattern}, received {key!r}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, received {severity!r}")
    log.warning("alert key=%s urgent=%s title=%s body=%s", key, urgent, title, body)
    if not settings.alert_targets:
        return False
    k = AlertKeys(key)
    item = json.dumps({"title": title, "body": body, "severity": severity})
    gather_ms = int(settings.alert_gather_s * 1000)
    answer = client.eval(
        NOTE_LUA,
        4,
        k.count,
        k.scheduled,
        k.gate,
        k.items,
        gather_ms,
        SCHEDULED_MARGIN_MS,
        item,
        "1" if urgent else "0",
        MAX_ITEMS,
    )
    if not isinstance(answer, list):
        return False  # a send of this key is already scheduled: it will carry this one
    delay_ms, token = int(answer[0]), _text(answer[1])
    from mmtasks.celery import CONTROL_QUEUE, app

    app.send_task(
        FLUSH_TASK,
        args=[key, token],
        queue=CONTROL_QUEUE,
        countdown=delay_ms / 1000,
        ignore_result=True,
    )
    return True


FLEET_SEVERITY = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}


def fleet_state_key(before: str, after: str) -> str:
    """The alert key of one fleet transition: each kind of transition has its own window."""
    return f"fleet-state:{before}-{after}"


def more_severe(before: str, after: str) -> bool:
    """True when the fleet moves to a more severe state (its alert is urgent)."""
    return FLEET_SEVERITY.get(str(after), 2) > FLEET_SEVERITY.get(str(before), 0)


def take(
    client: redis.Redis, key: str, window_s: float, token: str = ""
) -> tuple[int, list[dict[str, Any]]]:
    """Return (count, gathered alerts in order) of key and reset it; a count starts its window.

    token: the scheduled send's; a send superseded by an urgent one takes nothing (0, []).
    """
    k = AlertKeys(key)
    answer = client.eval(
        TAKE_LUA, 4, k.count, k.scheduled, k.gate, k.items, int(window_s * 1000), token
    )
    return int(answer[0]), [json.loads(_text(raw)) for raw in answer[1:]]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

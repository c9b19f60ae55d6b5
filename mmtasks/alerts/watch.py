"""Turn the fleet's events into alerts: symbols entering ERROR, recovery exhausted, breaches.

The risk task calls `watch_events` on every run; it reads `mm:events` after its cursor, so each
event is looked at once however often it runs. Fleet state changes are alerted where they are
made (risk task, halt, resume), so they are skipped here.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from mmtasks.alerts import alert
from mmtasks.settings import Settings
from mmtasks.state.keys import ALERTS_CURSOR, EVENTS, FLEET_OUTBOX_SUBJECT

BATCH = 1000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def alert_for(kind: str, symbol: str, data: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """Return (key, title, body, severity) of the alert an event calls for, or None.

    A "failure" (a symbol to ERROR, recovery exhausted) is sent urgently: never held back by
    the window of an alert sent before it.
    """
    if symbol in ("", "*", FLEET_OUTBOX_SUBJECT):
        return None
    if kind == "SYMBOL_STATE_CHANGED" and data.get("status") == "ERROR":
        return (
            f"symbol-error:{symbol}",
            f"{symbol} moved to ERROR",
            f"{data.get('error', '')}. Fills are still applied; beat tries to recover it.",
            "failure",
        )
    if kind == "RECOVERY_EXHAUSTED":
        return (
            f"recovery-exhausted:{symbol}",
            f"{symbol}: recovery exhausted",
            f"{data.get('error', '')}. {data.get('action', '')}",
            "failure",
        )
    if kind == "RISK_LIMIT_BREACHED":
        limit = str(data.get("limit") or data.get("reason") or "limit")
        detail = ", ".join(f"{k} {v}" for k, v in data.items())
        return (
            f"risk-breach:{symbol}:{limit.replace(' ', '_')}",
            f"{symbol}: {limit}",
            detail,
            "warning",
        )
    return None


def watch_events(client: redis.Redis, settings: Settings) -> int:
    """Alert on the events after the cursor; return how many alerts were noted."""
    cursor = client.get(ALERTS_CURSOR)
    if cursor is None:  # first run: start from now, not from the whole history
        newest: Any = client.xrevrange(EVENTS, count=1)
        client.set(ALERTS_CURSOR, _text(newest[0][0]) if newest else "0-0")
        return 0
    noted = 0
    rows: Any = client.xrange(EVENTS, min=f"({_text(cursor)}", max="+", count=BATCH)
    for entry_id, raw in rows:
        fields = {_text(k): _text(v) for k, v in raw.items()}
        try:
            data = json.loads(fields.get("data") or "{}")
        except ValueError:
            data = {}
        found = alert_for(fields.get("type", ""), fields.get("symbol", ""), data)
        if found is not None:
            key, title, body, severity = found
            urgent = severity == "failure"
            alert(client, key, title, body, severity=severity, urgent=urgent, settings=settings)
            noted += 1
        client.set(ALERTS_CURSOR, _text(entry_id))
    return noted

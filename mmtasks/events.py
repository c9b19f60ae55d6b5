"""Typed events for other systems, on the capped Redis stream `mm:events`."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from typing import Any

import redis

from mmtasks.state.keys import EVENTS, EVENTS_MAXLEN


class EventType(StrEnum):
    ORDER_CREATED = "ORDER_CREATED"
    ORDER_FILLED = "ORDER_FILLED"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    ORDER_REJECTED = "ORDER_REJECTED"
    POSITION_OPENED = "POSITION_OPENED"
    POSITION_MODIFIED = "POSITION_MODIFIED"
    POSITION_CLOSED = "POSITION_CLOSED"
    RISK_LIMIT_BREACHED = "RISK_LIMIT_BREACHED"
    STOP_LOSS_HIT = "STOP_LOSS_HIT"
    SYMBOL_ADDED = "SYMBOL_ADDED"
    SYMBOL_REMOVED = "SYMBOL_REMOVED"
    SYMBOL_PAUSED = "SYMBOL_PAUSED"
    SYMBOL_RESUMED = "SYMBOL_RESUMED"
    SYMBOL_STATE_CHANGED = "SYMBOL_STATE_CHANGED"
    FLEET_STATE_CHANGED = "FLEET_STATE_CHANGED"
    RECONCILED = "RECONCILED"


def event_fields(kind: EventType, symbol: str, data: dict[str, Any]) -> dict[str, str]:
    """Return the stream fields of one event."""
    return {
        "type": kind.value,
        "symbol": symbol,
        "ts_ms": str(int(time.time() * 1000)),
        "data": json.dumps(data, separators=(",", ":"), default=str),
    }


def publish(client: redis.Redis, events: list[dict[str, str]]) -> None:
    """Append prepared events to mm:events in one round trip."""
    if not events:
        return
    pipe = client.pipeline(transaction=False)
    for fields in events:
        pipe.xadd(EVENTS, fields, maxlen=EVENTS_MAXLEN, approximate=True)  # type: ignore[arg-type]
    pipe.execute()

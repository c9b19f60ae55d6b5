"""Read the events stream `mm:events` as feed messages (`{"type", "id", "data"}`).

Every stream entry becomes one message carrying its stream id, so a client that remembers the
last id it saw resumes exactly after it (`?after=<id>`).
"""

from __future__ import annotations

import json
from typing import Any

import redis

from mmtasks.state.keys import EVENTS

HISTORY = 100
SCAN = 2000  # newest entries searched when one symbol's history is asked

# Feed message type of each event type; anything else is a status change.
MESSAGE_TYPES = {
    "ORDER_FILLED": "trade_event",
    "ORDER_CREATED": "orders",
    "ORDER_CANCELLED": "orders",
    "ORDER_REJECTED": "orders",
    "POSITION_OPENED": "position",
    "POSITION_MODIFIED": "position",
    "POSITION_CLOSED": "position",
    "RISK_LIMIT_BREACHED": "risk",
    "STOP_LOSS_HIT": "risk",
    "FLEET_STATE_CHANGED": "risk",
    "SYMBOL_STATE_CHANGED": "risk",
}


def message_of(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """Return the feed message of one stream entry."""
    kind = fields.get("type", "")
    try:
        data = json.loads(fields.get("data") or "{}")
    except ValueError:
        data = {"raw": fields.get("data")}
    return {
        "type": MESSAGE_TYPES.get(kind, "status"),
        "id": entry_id,
        "data": {
            "event": kind,
            "symbol": fields.get("symbol", ""),
            "ts_ms": int(fields.get("ts_ms") or 0),
            # per-symbol sequence of the outbox relay (absent on streams written before it)
            "event_seq": int(fields["event_seq"]) if fields.get("event_seq") else None,
            "fields": data,
        },
    }


def last_id(client: redis.Redis) -> str:
    """Return the id of the newest event ('0-0' when the stream is empty)."""
    rows: Any = client.xrevrange(EVENTS, count=1)
    return str(rows[0][0]) if rows else "0-0"


def recent_events(
    client: redis.Redis, *, symbol: str | None = None, upto: str = "+", count: int = HISTORY
) -> list[dict[str, Any]]:
    """Return the newest count events (of one symbol when given) up to id upto, oldest first."""
    rows: Any = client.xrevrange(EVENTS, max=upto, count=SCAN if symbol else count)
    messages = [
        message_of(str(entry_id), fields)
        for entry_id, fields in rows
        if symbol is None or fields.get("symbol") == symbol
    ]
    return list(reversed(messages[:count]))

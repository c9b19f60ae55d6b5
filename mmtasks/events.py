"""Typed events for other systems: exactly once, in order per symbol.

A step writes its events into the symbol's own outbox stream (`mm:{s}:outbox`) in the same
fenced commit as the state they describe, each with the next per-symbol `event_seq`. The relay
then copies them to the fleet stream `mm:events` with a Lua script that remembers, per symbol,
the last seq it copied: an event is copied once, in seq order, however often the relay runs or
crashes. The worker relays its own events right after its commit (one round trip); beat relays
every outbox periodically, which covers a worker killed between the two. A consumer of
`mm:events` reads each event once and sees a gap in `event_seq` if one were ever trimmed.
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from importlib import resources
from typing import TYPE_CHECKING, Any

from mmtasks.state.keys import EVENTS, EVENTS_MAXLEN, EVENTS_RELAYED, FLEET_OUTBOX_SUBJECT, keys_for

if TYPE_CHECKING:  # only annotations: replay builds event fields without a Redis client
    import redis

RELAY_BATCH = 1000
RELAY_LUA = resources.files("mmtasks.state").joinpath("relay.lua").read_text()


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
    SYMBOL_DEGRADED = "SYMBOL_DEGRADED"
    SYMBOL_RECOVERED = "SYMBOL_RECOVERED"
    RECOVERY_ATTEMPTED = "RECOVERY_ATTEMPTED"
    RECOVERY_EXHAUSTED = "RECOVERY_EXHAUSTED"
    FLEET_STATE_CHANGED = "FLEET_STATE_CHANGED"
    RECONCILED = "RECONCILED"
    STATE_REBUILT = "STATE_REBUILT"
    # the signal kind's stages (docs/strategy.md, "The signal kind")
    NEW_CANDLE = "NEW_CANDLE"
    DATA_FETCH_FAILED = "DATA_FETCH_FAILED"
    INDICATORS_UPDATED = "INDICATORS_UPDATED"
    REGIME_CHANGED = "REGIME_CHANGED"
    SIGNAL_GENERATED = "SIGNAL_GENERATED"
    SIGNAL_VALIDATED = "SIGNAL_VALIDATED"
    SIGNAL_REJECTED = "SIGNAL_REJECTED"
    TRADE_EXECUTED = "TRADE_EXECUTED"
    TRADE_FAILED = "TRADE_FAILED"
    SERVICE_STATE_CHANGED = "SERVICE_STATE_CHANGED"


def event_fields(kind: EventType, symbol: str, data: dict[str, Any]) -> dict[str, str]:
    """Return the stream fields of one event."""
    return {
        "type": kind.value,
        "symbol": symbol,
        "ts_ms": str(int(time.time() * 1000)),
        "data": json.dumps(data, separators=(",", ":"), default=str),
    }


def _subject(symbol: str) -> str:
    """Return whose outbox holds symbol's events ("" and "*" are the fleet's own)."""
    return symbol if symbol not in ("", "*") else FLEET_OUTBOX_SUBJECT


def relay(
    client: redis.Redis, symbol: str, first_seq: int = 0, events: list[dict[str, str]] | None = None
) -> int:
    """Copy the symbol's outbox to mm:events once each; return the last seq relayed.

    With the events a commit just wrote (and the seq of the first), this takes one round trip;
    when the relay is behind (an earlier relay never ran), it reads the outbox from its cursor.
    """
    subject = _subject(symbol)
    if events and first_seq:
        args: list[Any] = [subject, EVENTS_MAXLEN]
        for i, fields in enumerate(events):
            args += [first_seq + i, _flat(fields)]
        cursor = _run_relay(client, args)
        if cursor >= first_seq + len(events) - 1:
            return cursor
    return _relay_from_outbox(client, subject)


def _run_relay(client: redis.Redis, args: list[Any]) -> int:
    from mmtasks.state.store import run_script  # with redis: not on replay's import path

    return int(run_script(client, RELAY_LUA, [EVENTS, EVENTS_RELAYED], args))


def _relay_from_outbox(client: redis.Redis, subject: str) -> int:
    outbox = keys_for(subject).outbox
    cursor = int(client.hget(EVENTS_RELAYED, subject) or 0)
    while True:
        rows: Any = client.xrange(outbox, min=f"({cursor}-0", max="+", count=RELAY_BATCH)
        if not rows:
            return cursor
        args: list[Any] = [subject, EVENTS_MAXLEN]
        for entry_id, fields in rows:
            seq = int(_text(entry_id).split("-", 1)[0])
            decoded = {_text(k): _text(v) for k, v in fields.items() if _text(k) != "event_seq"}
            args += [seq, _flat(decoded)]
        new = _run_relay(client, args)
        if new == cursor:  # the oldest kept entry is past the cursor: trimmed, skip the gap
            first = int(_text(rows[0][0]).split("-", 1)[0])
            client.hset(EVENTS_RELAYED, subject, first - 1)
            new = first - 1
        cursor = new
        if len(rows) < RELAY_BATCH:
            return cursor


def emit(client: redis.Redis, symbol: str, events: list[dict[str, str]]) -> None:
    """Write events outside a step (admin, failures) to the symbol's outbox, then relay them."""
    if not events:
        return
    from mmtasks.state.store import SymbolStore  # with redis: not on replay's import path

    first = SymbolStore(client, _subject(symbol)).emit(events)
    relay(client, symbol, first, events)


def _flat(fields: dict[str, str]) -> str:
    return json.dumps([x for item in fields.items() for x in item], separators=(",", ":"))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

"""Wait for a quiet fleet: no order in flight, inboxes drained, nothing changing."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from mmtasks.audit.invariants import _text, redis_slots
from mmtasks.audit.model import Exchange
from mmtasks.messages import UNREAD_PEEK, only_forming_candles
from mmtasks.state import keys as key_schema
from mmtasks.state.keys import SymbolKeys, keys_for
from mmtasks.state.record import SymbolState, read_each, read_record
from mmtasks.state.store import SymbolStore


@dataclass(frozen=True)
class Settled:
    """Outcome of wait_settled: settled or not, how long it took, what was still moving."""

    settled: bool
    waited_s: float
    unsettled: dict[str, str]


def _forming_only(client: redis.Redis, symbol: str, cursor: int) -> bool:
    """Return True when every unread inbox entry is a forming candle: nothing that moves an
    order, a fill or a command is waiting (a quiet symbol applies those at its next step)."""
    entries = SymbolStore(client, symbol).read_inbox(cursor, UNREAD_PEEK)
    return only_forming_candles([e.payload for e in entries])


def busy_reason(client: redis.Redis, symbol: str) -> str:
    """Return why symbol is not quiet yet, or '' when it is."""
    k = keys_for(symbol)
    slots = redis_slots(client, symbol)
    pending = [level for level, s in slots.items() if s.get("status") == "PENDING"]
    if pending:
        return f"PENDING slots {sorted(pending)}"
    cursor = read_record(client, symbol).last_seq
    seq = int(_text(client.get(k.seq) or 0))
    if cursor != seq and not _forming_only(client, symbol, cursor):
        return f"inbox cursor {cursor} != seq {seq}"
    buffered = int(client.llen(k.fills_out))
    if buffered:
        return f"{buffered} fills in {k.fills_out}"
    if client.exists(k.price_pending):
        return "price task pending"
    return _unrelayed(client, symbol)


def _unrelayed(client: redis.Redis, symbol: str) -> str:
    """Return why the symbol's outbox is ahead of what was relayed to mm:events, or ''."""
    relayed_key = getattr(key_schema, "EVENTS_RELAYED", None)
    outbox = f"mm:{{{symbol.lower()}}}:outbox"
    if relayed_key is None:  # no outbox in this version of the key schema
        return ""
    rows: Any = client.xrevrange(outbox, count=1)
    last = int(_text(rows[0][0]).split("-")[0]) if rows else 0
    relayed = int(_text(client.hget(relayed_key, symbol) or 0))
    return f"outbox at event_seq {last}, relayed {relayed}" if last > relayed else ""


def _fingerprint(client: redis.Redis, exchange: Exchange | None, symbols: list[str]) -> Any:

    def reads(pipe: Any, k: SymbolKeys) -> None:
        pipe.get(k.seq)
        pipe.hget(k.position, "qty")
        pipe.hgetall(k.state)

    stamp: list[Any] = [
        (seq, qty, SymbolState.parse(s, state).status)
        for s, (seq, qty, state) in zip(symbols, read_each(client, symbols, reads), strict=True)
    ]
    if exchange is not None:  # fees grow with every fill: a trade changes the stamp
        stamp += [(p.symbol, p.quantity, p.fees) for p in exchange.positions("")]
    return stamp


def wait_settled(
    client: redis.Redis,
    symbols: Iterable[str],
    *,
    exchange: Exchange | None = None,
    timeout_s: float = 30.0,
    quiet_s: float = 1.0,
    poll_s: float = 0.1,
) -> Settled:
    """Poll until every symbol is quiet and nothing changes for quiet_s, or timeout_s passes.

    Quiet: no PENDING slot, inbox cursor == seq, fills_out empty, no price task pending. Pause
    the price feed first: a live feed keeps a healthy fleet busy forever.
    """
    symbols = list(symbols)
    started = time.monotonic()
    reasons: dict[str, str] = {}
    quiet_since: float | None = None
    last: Any = None
    while True:
        try:
            reasons = {s: r for s in symbols if (r := busy_reason(client, s))}
            stamp = _fingerprint(client, exchange, symbols)
        except (redis.RedisError, OSError) as exc:
            reasons, stamp = {"*": f"redis: {exc}"}, None
        now = time.monotonic()
        if reasons:
            quiet_since = None
        elif stamp != last or quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet_s:
            return Settled(True, now - started, {})
        last = stamp
        if now - started > timeout_s:
            return Settled(False, now - started, reasons or {"*": "still changing"})
        time.sleep(poll_s)

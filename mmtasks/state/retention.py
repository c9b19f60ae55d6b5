"""How much Redis keeps per symbol, and the sweep that keeps it to that.

A symbol's Redis state is bounded at steady state: beat's retention sweep (every
`RETENTION_EVERY_S`) trims what a worker no longer needs, always behind the cursor that says
it is done with it, never ahead:

- the inbox behind the step's cursor (`last_seq`): `inbox_keep` processed entries stay for
  diagnosis (the dashboard's recent events); an entry past the cursor is never trimmed;
- the outbox behind the relay's cursor (`{mm:events}:relayed`): `outbox_keep` relayed entries;
- the trades set (what reconcile has already counted) by age behind the newest counted trade:
  `trades_keep_s`, at least twice reconcile's look-back margin (`reconcile.TRADES_MARGIN_MS`);
- the fleet's event stream `mm:events` by count (`events_max_len`) and age (`events_max_age_s`).

The caps written with every append (`keys.INBOX_MAXLEN`, `OUTBOX_MAXLEN`, `EVENTS_MAXLEN`,
`TRADES_KEPT`) stay as the backstop when beat does not run. A symbol removed from the fleet
is purged (`purge`: every key of its hash tag) once its grace period has passed; beat decides
when (`tasks/beat.py`). docs/operations.md ("Redis memory") gives the sizes these make.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import redis

from mmtasks.settings import Settings
from mmtasks.state.keys import EVENTS, EVENTS_RELAYED, EVENTS_TRIMMED, keys_for
from mmtasks.state.record import read_records
from mmtasks.state.store import new_token

RETENTION_EVERY_S = 30.0
PURGE_LOCK_MS = 30_000
DELETE_BATCH = 500


@dataclass(frozen=True)
class Retention:
    """What the sweep keeps; `Retention.of(settings)` reads it from the environment.

    The fields are the settings' own names, and their defaults live there (`Settings`).
    """

    inbox_keep: int
    outbox_keep: int
    trades_keep_s: float
    events_max_len: int
    events_max_age_s: float

    @classmethod
    def of(cls, settings: Settings) -> Retention:
        """Return the retention the settings ask for (MMTASKS_INBOX_KEEP and the rest)."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class Trimmed:
    """Entries one sweep removed, by what they were."""

    inbox: int = 0
    outbox: int = 0
    trades: int = 0
    events: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def trim(client: redis.Redis, symbols: Iterable[str], keep: Retention, now_ms: int) -> Trimmed:
    """Trim every symbol's inbox, outbox and trades set, and the fleet's event stream.

    Two round trips for the whole fleet: the cursors, then the trims. A cursor read stale is
    only older (cursors only move forward), so a trim never reaches past what is done.
    """
    names = list(symbols)
    records = read_records(client, names)
    relayed: list[Any] = client.hmget(EVENTS_RELAYED, names) if names else []
    pipe = client.pipeline(transaction=False)
    counted: list[str] = []
    for symbol, relayed_seq in zip(names, relayed, strict=True):
        k, record = keys_for(symbol), records[symbol]
        if record.last_seq > keep.inbox_keep:
            oldest_kept = record.last_seq - keep.inbox_keep + 1
            pipe.xtrim(k.inbox, minid=f"{oldest_kept}-0", approximate=True)
            counted.append("inbox")
        done = int(relayed_seq or 0)
        if done > keep.outbox_keep:
            pipe.xtrim(k.outbox, minid=f"{done - keep.outbox_keep + 1}-0", approximate=True)
            counted.append("outbox")
        if record.trades_cursor_ms:
            oldest = record.trades_cursor_ms - int(keep.trades_keep_s * 1000)
            pipe.zremrangebyscore(k.trades, "-inf", f"({oldest}")
            counted.append("trades")
    pipe.xtrim(EVENTS, maxlen=keep.events_max_len, approximate=True)
    pipe.xtrim(EVENTS, minid=f"{now_ms - int(keep.events_max_age_s * 1000)}-0", approximate=True)
    counted += ["events", "events"]
    totals = dict.fromkeys(("inbox", "outbox", "trades", "events"), 0)
    for what, removed in zip(counted, pipe.execute(), strict=True):
        totals[what] += int(removed or 0)
    if totals["events"]:  # say from where the stream is whole (the invariant checker reads it)
        first: Any = client.xrange(EVENTS, count=1)
        if first:
            client.set(EVENTS_TRIMMED, _text(first[0][0]))
    return Trimmed(**totals)


def tag_pattern(symbol: str) -> str:
    """Return the SCAN pattern of every key of symbol's hash tag (`mm:{s}:*`)."""
    return f"mm:{{{symbol.lower()}}}:*"


def tag_keys(client: redis.Redis, symbol: str) -> list[str]:
    """Return the names of every key of symbol's hash tag that exists."""
    return [_text(name) for name in client.scan_iter(match=tag_pattern(symbol), count=1000)]


def purge(client: redis.Redis, symbol: str, ready: Callable[[], bool]) -> int | None:
    """Delete every key of symbol's hash tag and its relay cursor; return how many went.

    Done under the symbol's lock, so no step of it runs meanwhile, and only when ready()
    (called under the lock) says nothing is left to move out: its fills in the ledger, its
    events relayed. None when a step holds the lock or ready() says no: try again later.
    """
    k = keys_for(symbol)
    token = new_token()
    if not client.set(k.lock, token, nx=True, px=PURGE_LOCK_MS):
        return None
    deleted = 0
    try:
        if not ready():
            return None
        names = [n for n in tag_keys(client, symbol) if n != k.lock]
        for i in range(0, len(names), DELETE_BATCH):
            deleted += int(client.delete(*names[i : i + DELETE_BATCH]))
        client.hdel(EVENTS_RELAYED, symbol)  # a symbol added again counts its events from 1
    finally:
        if _text(client.get(k.lock)) == token:
            client.delete(k.lock)  # the lock purge took (a holder's lock is never counted)
    return deleted


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value

"""Every Redis key mmtasks uses, in one place.

Per-symbol keys share the hash tag `{<symbol lower>}` so a symbol's keys live in one Redis
Cluster slot and one Lua script may touch them all.

  mm:{s}:lock          string  lock token of the worker that owns the symbol (PX ttl)
  mm:{s}:state         hash    anchor, last_seq (cursor), status, reduce_only, error_count,
                               needs_reconcile, last_price, last_price_ts_ms, price_seq,
                               last_step_ms, last_error
  mm:{s}:slots         hash    level (canonical decimal) -> slot JSON (status, side, price,
                               qty, client_order_id, venue_order_id, filled_qty, closing,
                               inventory, generation)
  mm:{s}:position      hash    qty, avg_cost, realized_pnl, fees, volume (decimal strings)
  mm:{s}:config        hash    strategy (JSON), risk (JSON), rules (JSON), version
  mm:{s}:candles       hash    open_ms -> candle JSON (recent window only)
  mm:{s}:inbox         stream  order, candle and command events; entry id `<seq>-0`
  mm:{s}:seq           string  last seq handed out for the inbox (INCR; survives restarts)
  mm:{s}:tick          hash    newest price: price, ts_event_ms, seq (conflated, bridge-owned)
  mm:{s}:price_pending string  set while a price task is queued (conflation flag)
  mm:{s}:fills_out     list    fills committed with state, waiting for the Postgres ledger

Fleet-wide keys:

  mm:events            stream  typed events for other systems (capped)
  mm:fleet             hash    state ACTIVE|REDUCING|HALTED, reason, changed_ms, changed_by
  mm:symbols           set     symbols known to this fleet
  mm:bridge:heartbeat  hash    stream name -> last message time ms; alive_ms, state,
                               <stream>_count, events_appended, price_tasks
  mm:bridge:rejects    hash    reason -> count of bad messages
  mm:beat:lock         string  owner of the one running beat (EX 30, renewed each tick)
"""

from __future__ import annotations

from dataclasses import dataclass

EVENTS = "mm:events"
FLEET = "mm:fleet"
SYMBOLS = "mm:symbols"
BRIDGE_HEARTBEAT = "mm:bridge:heartbeat"
BRIDGE_REJECTS = "mm:bridge:rejects"
BEAT_LOCK = "mm:beat:lock"

INBOX_MAXLEN = 100_000
EVENTS_MAXLEN = 100_000


@dataclass(frozen=True)
class SymbolKeys:
    """The Redis keys of one symbol."""

    symbol: str

    def _k(self, name: str) -> str:
        return f"mm:{{{self.symbol.lower()}}}:{name}"

    @property
    def lock(self) -> str:
        return self._k("lock")

    @property
    def state(self) -> str:
        return self._k("state")

    @property
    def slots(self) -> str:
        return self._k("slots")

    @property
    def position(self) -> str:
        return self._k("position")

    @property
    def config(self) -> str:
        return self._k("config")

    @property
    def candles(self) -> str:
        return self._k("candles")

    @property
    def inbox(self) -> str:
        return self._k("inbox")

    @property
    def seq(self) -> str:
        return self._k("seq")

    @property
    def tick(self) -> str:
        return self._k("tick")

    @property
    def price_pending(self) -> str:
        return self._k("price_pending")

    @property
    def fills_out(self) -> str:
        return self._k("fills_out")


def keys_for(symbol: str) -> SymbolKeys:
    """Return the keys of symbol."""
    return SymbolKeys(symbol)

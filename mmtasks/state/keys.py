"""Every Redis key mmtasks uses, in one place.

Per-symbol keys share the hash tag `{<symbol lower>}` so a symbol's keys live in one Redis
Cluster slot and one Lua script may touch them all.

  mm:{s}:lock          string  lock token of the worker that owns the symbol (PX ttl)
  mm:{s}:again         string  a wake left while the lock was held ("1", or "price" for a
                               price task): the holder drains again before it lets go
  mm:{s}:state         hash    status, anchor, last_seq (cursor), reduce_only,
                               generation_floor, needs_reconcile, reconcile_after_ms
                               (a create still being sent: not asked again before), drift_count,
                               rejected_events, last_price, last_price_ts_ms, last_step_ms,
                               trades_cursor_ms (every trade before it is counted: the newest
                               trade applied, or the last reconcile's time), last_error,
                               last_error_dependency, error_since_ms;
                               DEGRADED: degraded_since_ms, retry_count, retry_at_ms;
                               recovery: recovering, give_up, resumes (inits, resumes and
                               resets so far: a new one starts beat's recovery budget again);
                               (written only by the fenced commit, state/commit.lua)
                               risk: fleet_state (the fleet state its last step acted on),
                               equity_hwm, losing_streak, breaker, breaker_reason;
                               signal: signal_history (history to fetch), signal_fetch_at_ms,
                               signal_tick_seq, signal_failed, signal_rejected
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
  mm:{s}:band          hash    lo, hi ("" unbounded): the settled grid's quiet band, written by
                               the step's fenced commit; the bridge sends no price task for a
                               tick strictly inside it (bridge/tick.lua)
  mm:{s}:fills_out     list    fills committed with state, waiting for the Postgres ledger
  mm:{s}:trades        zset    trade ids applied to the state (score: trade time ms), newest
                               TRADES_KEPT only: what reconcile has already counted
  mm:{s}:metrics       hash    step / tick-to-order histogram buckets, order counters
                               (mmtasks/metrics.py writes, the web process reads)
  mm:{s}:metrics:<min> hash    the same histograms for one minute (unix time // 60), expiring
                               after 7 minutes: the recent window the dashboard shows
  mm:{s}:signal        hash    kind signal only: the pipeline's state (signal/state.py to_dict:
                               candles, indicator rows, regime, phase, orders, stop,
                               take-profit, position)
  mm:{s}:health        hash    kind signal only: stage (data, indicators, strategy, execution)
                               -> JSON (state, error_count, restarts, last_error, last_run_ms,
                               started_ms, escalated)
  mm:{s}:outbox        stream  the symbol's events, written in the same fenced commit as the
                               state they describe; entry id `<event_seq>-0`; relayed to
                               mm:events
  mm:{s}:event_seq     string  last event_seq given to an outbox entry (the step's commit and
                               admin events outside a step both count on it)
  mm:{s}:recovery      hash    beat's recovery budget, written by beat only: attempts,
                               window_ms (start of the window), next_ms (next attempt due),
                               gave_up ("1" once the give_up command was sent), resumes (the
                               state's count when this budget began)

Bounded at steady state (state/retention.py): inbox, outbox and trades are trimmed behind
their cursors by beat's retention sweep, and every key of a symbol removed from the fleet
(its tag, `mm:{s}:*`) is deleted once its grace period has passed.

Fleet-wide keys:

  mm:events            stream  typed events for other systems (capped), relayed from the
                               outboxes once each, in event_seq order per symbol
  {mm:events}:relayed  hash    symbol -> last event_seq relayed (same slot as mm:events)
  {mm:events}:trimmed  string  id of the oldest entry mm:events kept when the retention sweep
                               last trimmed it (older events are gone on purpose)
  mm:dropped           hash    reason -> count of symbol-queue tasks dropped (unknown symbol)
  mm:rehydrate:asked   string  set (EX) while a rehydrate asked for by a worker is pending
  mm:fleet             hash    state ACTIVE|REDUCING|HALTED, reason, changed_ms, changed_by,
                               source (operator|risk)
  mm:risk              hash    the risk task's last run: figures (JSON), limits (JSON),
                               breaches (JSON), updated_ms, high_water, day, day_start_equity
                               (a cache: Postgres fleet_risk holds the truth)
  mm:risk:latency      zset    connector round-trip samples, member `<ms>:<id>`, score ts ms
  mm:alert:{k}:count   string  alerts of key k not yet sent (INCR; taken by the sender)
  mm:alert:{k}:sched   string  set while a send of key k is scheduled: its due time (Redis ms)
  mm:alert:{k}:gate    string  set (PX window) after a send: the next waits for it to expire
  mm:alert:{k}:items   list    alerts of key k not yet sent, in order (JSON title, body,
                               severity, n, first_ms, last_ms; the newest 20 distinct)
  mm:alerts:cursor     string  last mm:events id the alert watcher has read
  mm:symbols           set     symbols of this fleet: add_symbol puts one in; a removed one
                               stays until its worker has cancelled every order of it, and
                               that worker takes it out (trading/step.py)
  mm:bridge:heartbeat  hash    stream name -> last message time ms; alive_ms, state,
                               <stream>_count, events_appended, price_tasks
  mm:bridge:rejects    hash    reason -> count of bad messages
  mm:bridge:leader     string  the streaming bridge's token `<host>:<pid>/<hex>` (PX 3 s,
                               renewed each second; bridge/leader.py)
  mm:bridge:standby    hash    standby bridge `<host>:<pid>` -> last seen ms
  mm:beat:lock         string  owner of the one running beat (EX 30, renewed each tick)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TypedDict, cast


class StateFields(TypedDict, total=False):
    """The fields of `mm:{s}:state`, every value a string as Redis holds it.

    The step writes the hash through this type (its fenced diff), so mypy refuses a misspelt
    field; everyone reads it typed through `state/record.py`'s SymbolState.
    tests/unit/test_state_keys.py checks that the header above lists exactly these.
    """

    status: str  # SymbolStatus
    anchor: str
    last_seq: str
    reduce_only: str  # "1" or "0"
    generation_floor: str
    needs_reconcile: str  # "1" or "0"
    reconcile_after_ms: str  # a create still being sent (docs/venue.md): no reconcile before
    drift_count: str
    rejected_events: str
    last_price: str
    last_price_ts_ms: str
    last_step_ms: str
    trades_cursor_ms: str
    last_error: str
    last_error_dependency: str
    error_since_ms: str
    degraded_since_ms: str
    retry_count: str
    retry_at_ms: str
    recovering: str
    give_up: str
    resumes: str
    fleet_state: str
    equity_hwm: str
    losing_streak: str
    breaker: str
    breaker_reason: str
    signal_history: str
    signal_fetch_at_ms: str
    signal_tick_seq: str
    signal_failed: str
    signal_rejected: str


STATE_FIELDS: frozenset[str] = frozenset(StateFields.__annotations__)


def state_fields(raw: dict[str, str]) -> StateFields:
    """Return the state hash as read from Redis, keeping only the fields StateFields declares."""
    return cast(StateFields, {f: v for f, v in raw.items() if f in STATE_FIELDS})


def state_mapping(fields: StateFields) -> dict[str, str]:
    """Return fields as the plain mapping Redis writes take."""
    return {f: str(v) for f, v in fields.items()}


EVENTS = "mm:events"
EVENTS_RELAYED = "{mm:events}:relayed"  # the braces put it in mm:events' cluster slot
EVENTS_TRIMMED = "{mm:events}:trimmed"
DROPPED = "mm:dropped"
REHYDRATE_ASKED = "mm:rehydrate:asked"
FLEET_OUTBOX_SUBJECT = "_fleet"  # fleet-wide events use this outbox (symbols are [A-Z0-9])
FLEET = "mm:fleet"
SYMBOLS = "mm:symbols"
BRIDGE_HEARTBEAT = "mm:bridge:heartbeat"
BRIDGE_REJECTS = "mm:bridge:rejects"
BRIDGE_LEADER = "mm:bridge:leader"
BRIDGE_STANDBY = "mm:bridge:standby"
BEAT_LOCK = "mm:beat:lock"
RISK = "mm:risk"
RISK_LATENCY = "mm:risk:latency"
ALERTS_CURSOR = "mm:alerts:cursor"


@dataclass(frozen=True)
class AlertKeys:
    """The Redis keys of one alert key (de-duplication and rate limit)."""

    key: str

    @property
    def count(self) -> str:
        return f"mm:alert:{{{self.key}}}:count"

    @property
    def scheduled(self) -> str:
        return f"mm:alert:{{{self.key}}}:sched"

    @property
    def gate(self) -> str:
        return f"mm:alert:{{{self.key}}}:gate"

    @property
    def items(self) -> str:
        return f"mm:alert:{{{self.key}}}:items"


INBOX_MAXLEN = 100_000
EVENTS_MAXLEN = 100_000
OUTBOX_MAXLEN = 10_000
TRADES_KEPT = 20_000


@dataclass(frozen=True)
class SymbolKeys:
    """The Redis keys of one symbol."""

    symbol: str

    def _k(self, name: str) -> str:
        return f"mm:{{{self.symbol.lower()}}}:{name}"

    @cached_property
    def lock(self) -> str:
        return self._k("lock")

    @cached_property
    def band(self) -> str:
        return self._k("band")

    @cached_property
    def again(self) -> str:
        return self._k("again")

    @cached_property
    def state(self) -> str:
        return self._k("state")

    @cached_property
    def slots(self) -> str:
        return self._k("slots")

    @cached_property
    def position(self) -> str:
        return self._k("position")

    @cached_property
    def config(self) -> str:
        return self._k("config")

    @cached_property
    def candles(self) -> str:
        return self._k("candles")

    @cached_property
    def inbox(self) -> str:
        return self._k("inbox")

    @cached_property
    def seq(self) -> str:
        return self._k("seq")

    @cached_property
    def tick(self) -> str:
        return self._k("tick")

    @cached_property
    def price_pending(self) -> str:
        return self._k("price_pending")

    @cached_property
    def fills_out(self) -> str:
        return self._k("fills_out")

    @cached_property
    def trades(self) -> str:
        return self._k("trades")

    @cached_property
    def outbox(self) -> str:
        return self._k("outbox")

    @cached_property
    def event_seq(self) -> str:
        return self._k("event_seq")

    @cached_property
    def recovery(self) -> str:
        return self._k("recovery")

    @cached_property
    def metrics(self) -> str:
        return self._k("metrics")

    @cached_property
    def signal(self) -> str:
        return self._k("signal")

    @cached_property
    def health(self) -> str:
        return self._k("health")

    @property
    def per_symbol(self) -> tuple[str, ...]:
        """Every fixed key of the symbol (its per-minute metrics keys expire by themselves)."""
        return tuple(getattr(self, name) for name in _KEY_NAMES)


_KEY_NAMES = tuple(
    name for name, value in vars(SymbolKeys).items() if isinstance(value, cached_property)
)


@lru_cache(maxsize=4096)
def keys_for(symbol: str) -> SymbolKeys:
    """Return the keys of symbol (one object a symbol: each key's text is built once)."""
    return SymbolKeys(symbol)

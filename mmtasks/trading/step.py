"""One step of a symbol: drain its inbox in seq order, reconcile if needed, decide, execute.

Every task on a symbol queue runs this same step (the task's name says what woke it), so a
message that arrives late, twice or out of order changes nothing: the inbox and the cursor
decide what is applied, and the cursor moves in the same fenced write as the state.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import pydantic

from mmtasks.decimals import ZERO
from mmtasks.errors import LockLostError, OperationalError, Response
from mmtasks.events import EventType, event_fields, publish
from mmtasks.grid.logic import decide, with_anchor
from mmtasks.grid.models import (
    Action,
    Candle,
    GridConfig,
    Market,
    PlaceOrder,
    RiskConfig,
    SymbolRules,
)
from mmtasks.grid.transitions import apply_order_update
from mmtasks.ledger import flush_buffer
from mmtasks.messages import CandleEvent, CommandEvent, OrderEvent, parse_inbox_event
from mmtasks.runtime import Runtime
from mmtasks.state.keys import keys_for
from mmtasks.state.store import InboxEntry, SymbolStore
from mmtasks.trading.commands import RECOVERY_COMMANDS, apply_command, cancel_everything
from mmtasks.trading.effects import Effects, fill_effects
from mmtasks.trading.executor import execute
from mmtasks.trading.reconcile import reconcile
from mmtasks.trading.snapshot import (
    Snapshot,
    SymbolStatus,
    diff_batch,
    load_snapshot,
    rebase,
)

log = logging.getLogger(__name__)

INBOX_BATCH = 500
MAX_ERRORS = 3
CANDLES_KEPT_EXTRA = 5


@dataclass
class StepResult:
    symbol: str
    trigger: str
    status: str = ""
    events_applied: int = 0
    actions: list[Action] = field(default_factory=list)
    skipped: str = ""


def now_ms() -> int:
    return int(time.time() * 1000)


def run_step(
    rt: Runtime, symbol: str, trigger: str, *, clear_price_pending: bool = False
) -> StepResult:
    """Run one step for symbol under its lock; errors count toward the symbol's ERROR state."""
    store = SymbolStore(rt.redis, symbol)
    ttl_ms = rt.settings.lock_ttl_ms
    token = store.acquire(ttl_ms, wait_s=ttl_ms / 1000 + 1)
    if token is None:
        if clear_price_pending:  # or no price task would be sent until the flag expires
            rt.redis.delete(store.keys.price_pending)
        return StepResult(symbol, trigger, skipped="lock held by another worker")
    try:
        return _locked_step(rt, store, token, trigger, clear_price_pending)
    except LockLostError:
        log.error("%s: lock lost mid-step; nothing more written by this step", symbol)
        raise
    except Exception as exc:
        record_failure(rt, store, token, exc)
        raise
    finally:
        store.release(token)


def record_failure(rt: Runtime, store: SymbolStore, token: str, exc: BaseException) -> None:
    """Count a failed step: reconcile next time, and move to ERROR after MAX_ERRORS in a row."""
    k = store.keys
    count = int(rt.redis.hincrby(k.state, "error_count", 1))
    message = f"{type(exc).__name__}: {exc}"[:500]
    fields = {"last_error": message, "needs_reconcile": "1"}
    # Errors whose class says HALT stop the symbol at once; the rest get MAX_ERRORS tries.
    halted = count >= MAX_ERRORS or getattr(exc, "response", None) is Response.HALT
    if halted:
        fields["status"] = SymbolStatus.ERROR
    rt.redis.hset(k.state, mapping=fields)  # type: ignore[arg-type]
    log.error(
        "%s: step failed (%d in a row)%s: %s",
        store.symbol,
        count,
        ", symbol moved to ERROR and stopped trading" if halted else "",
        message,
    )
    if halted:
        publish(
            rt.redis,
            [
                event_fields(
                    EventType.SYMBOL_STATE_CHANGED,
                    store.symbol,
                    {"status": SymbolStatus.ERROR, "error": message},
                )
            ],
        )


def _locked_step(
    rt: Runtime, store: SymbolStore, token: str, trigger: str, clear_price_pending: bool
) -> StepResult:
    symbol = store.symbol
    result = StepResult(symbol, trigger)
    snap = load_snapshot(rt.redis, symbol, clear_price_pending=clear_price_pending)
    if snap.config_error and snap.status != SymbolStatus.ERROR:
        raise OperationalError(snap.config_error)
    buffered = snap.fills_buffered
    first = True
    while True:
        if not first:  # a fresh lock needs no renewal; a long drain does
            store.renew(token, rt.settings.lock_ttl_ms)
        first = False
        snap, applied, fills, more = _drain_once(rt, store, token, snap, result)
        result.events_applied += applied
        buffered += fills
        if not more:
            break
    result.status = snap.status
    if buffered:
        flush_buffer(rt.redis, rt.pg, symbol)  # logs and keeps the fills when Postgres is down
    return result


def _drain_once(
    rt: Runtime, store: SymbolStore, token: str, snap: Snapshot, result: StepResult
) -> tuple[Snapshot, int, int, bool]:
    """Apply one batch of inbox events, then decide and execute; return the new snapshot."""
    symbol = store.symbol
    fx = Effects(grid=snap.grid, meta={}, candles=dict(snap.candles))
    last_seq = snap.last_seq
    status = snap.status

    entries = store.read_inbox(last_seq, INBOX_BATCH)
    if status == SymbolStatus.ERROR and not any(_is_recovery(e) for e in entries):
        # Only a command can bring a symbol back; trading events wait in the inbox.
        return snap, 0, 0, False
    if entries and entries[0].seq > last_seq + 1 and last_seq > 0:
        log.warning(
            "%s: inbox gap after seq %d (oldest kept %d); reconciling",
            symbol,
            last_seq,
            entries[0].seq,
        )
        fx.meta["needs_reconcile"] = "1"
    for entry in entries:
        last_seq = entry.seq
        try:
            event = parse_inbox_event(entry.payload)
        except pydantic.ValidationError as exc:
            fx.meta["rejected_events"] = str(int(snap.meta.get("rejected_events", "0")) + 1)
            log.error(
                "%s: skipped malformed inbox event seq %d: %s",
                symbol,
                entry.seq,
                exc.errors(include_url=False)[:2],
            )
            continue
        if isinstance(event, OrderEvent):
            _apply_order(fx, event)
        elif isinstance(event, CandleEvent):
            fx.candles[event.open_ms] = event_to_candle(event)
        elif isinstance(event, CommandEvent):
            apply_command(rt, snap, fx, event)
    if entries:
        fx.meta["last_seq"] = str(last_seq)
    _trim_candles(fx, snap)

    status = fx.meta.get("status", status)
    needs_reconcile = fx.meta.get("needs_reconcile", snap.meta.get("needs_reconcile")) == "1"
    strategy = fx.strategy or snap.strategy
    risk = fx.risk or snap.risk
    rules = fx.rules or snap.rules
    if needs_reconcile and rules is not None and status != SymbolStatus.REMOVED:
        fx.meta["needs_reconcile"] = "0"  # reconcile sets it again if it must run once more
        reconcile(rt.exchange, snap, fx, strategy, rules, now_ms())

    actions: list[Action] = []
    if status != SymbolStatus.ACTIVE or snap.fleet_state == "HALTED":
        actions = cancel_everything(fx.grid)
    elif strategy is not None and rules is not None:
        actions = _decide(snap, fx, strategy, risk, rules)
    places = [a for a in actions if isinstance(a, PlaceOrder)]
    for place in places:
        fx.intend(place)
    fx.meta["last_step_ms"] = str(now_ms())

    # Commit #1: events applied, cursor advanced, intents written — before any order leaves.
    snap = _commit(store, token, snap, fx)
    fills = len(fx.fills)
    if actions:
        fx2 = Effects(grid=snap.grid, meta={}, candles=dict(snap.candles))
        execute(rt.exchange, symbol, actions, fx2, now_ms())
        snap = _commit(store, token, snap, fx2)
        result.actions.extend(actions)
        fills += len(fx2.fills)
    more = len(entries) == INBOX_BATCH
    return snap, len(entries), fills, more


def _is_recovery(entry: InboxEntry) -> bool:
    """Return True for a command that may act on a symbol in ERROR (resume, init, remove)."""
    try:
        event = parse_inbox_event(entry.payload)
    except pydantic.ValidationError:
        return False
    return isinstance(event, CommandEvent) and event.command in RECOVERY_COMMANDS


def _apply_order(fx: Effects, event: OrderEvent) -> None:
    trade = event.trade
    grid, core_events = apply_order_update(
        fx.grid,
        client_order_id=event.client_order_id,
        venue_order_id=event.order_id,
        status=event.status,
        cum_qty=event.executed_qty,
        last_fill_price=trade.price if trade else (event.avg_price or None),
        fee=trade.fee if trade else ZERO,
        trade_id=trade.trade_id if trade else None,
        now_ms=event.ts_event_ms,
    )
    fx.grid = grid
    fill_effects(
        fx, core_events, order_id=event.order_id, ts_ms=trade.ts_ms if trade else event.ts_event_ms
    )


def event_to_candle(event: CandleEvent) -> Candle:
    """Return the core Candle of a candle event."""
    return Candle(
        open_ms=event.open_ms,
        open=event.open,
        high=event.high,
        low=event.low,
        close=event.close,
        volume=event.volume,
        closed=event.closed,
    )


def _trim_candles(fx: Effects, snap: Snapshot) -> None:
    keep = snap.risk.average_window + CANDLES_KEPT_EXTRA
    if len(fx.candles) > keep:
        for ts in sorted(fx.candles)[: len(fx.candles) - keep]:
            del fx.candles[ts]


def _decide(
    snap: Snapshot, fx: Effects, strategy: GridConfig, risk: RiskConfig, rules: SymbolRules
) -> list[Action]:
    """Return the core's actions for the newest price, or none before the first price."""
    if snap.tick is None:
        return []
    if fx.grid.anchor is None:
        fx.grid = with_anchor(fx.grid, snap.tick.price, rules.tick_size)
    grid = fx.grid
    if snap.fleet_state == "REDUCING" and not grid.reduce_only:
        grid = dataclasses.replace(grid, reduce_only=True)
    market = Market(
        price=snap.tick.price,
        price_ts_ms=snap.tick.ts_event_ms,
        candles=tuple(fx.candles[ts] for ts in sorted(fx.candles)),
    )
    fx.meta["last_price"] = str(snap.tick.price)
    fx.meta["last_price_ts_ms"] = str(snap.tick.ts_event_ms)
    return decide(grid, market, strategy, risk, rules, now_ms())


def _commit(store: SymbolStore, token: str, snap: Snapshot, fx: Effects) -> Snapshot:
    """Write fx atomically under the lock with the fills and events it produced."""
    k = keys_for(store.symbol)
    batch = diff_batch(snap, fx.grid, fx.meta, fx.candles)
    if fx.strategy is not None or fx.risk is not None:
        batch.hset(k.config, fx.config_fields())
    batch.rpush(k.fills_out, [f.to_json() for f in fx.fills])
    store.commit(token, batch)
    publish(store.r, fx.events)
    new = rebase(snap, fx.grid, fx.meta, fx.candles)
    if fx.strategy is not None:
        new.strategy = fx.strategy
    if fx.risk is not None:
        new.risk = fx.risk
    return new

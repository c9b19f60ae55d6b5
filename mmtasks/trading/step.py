"""One step of a symbol: drain its inbox in seq order, reconcile if needed, decide, execute.

Every task on a symbol queue runs this same step (the task's name says what woke it), so a
message that arrives late, twice or out of order changes nothing: the inbox and the cursor
decide what is applied, and the cursor moves in the same fenced write as the state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import pydantic

from mmtasks.decimals import ZERO, canon
from mmtasks.domain import parse_symbol
from mmtasks.errors import (
    DependencyError,
    LockLostError,
    OperationalError,
    RateLimitedError,
    Response,
    ValidationError,
    dependency_of,
    policy_for,
)
from mmtasks.events import EventType, event_fields, relay
from mmtasks.grid.logic import decide, with_anchor
from mmtasks.grid.models import (
    Action,
    CancelOrder,
    Candle,
    GridConfig,
    Market,
    PlaceOrder,
    RiskConfig,
    SymbolRules,
)
from mmtasks.grid.models import Position as CorePosition
from mmtasks.grid.transitions import apply_order_update
from mmtasks.ledger import flush_buffer, known_trade_ids, ledger_position
from mmtasks.messages import CandleEvent, CommandEvent, OrderEvent, parse_inbox_event
from mmtasks.metrics import count_order_events, record_step
from mmtasks.risk.breaker import check_breaker, losing_streak, symbol_equity
from mmtasks.risk.decide import FleetState, stricter
from mmtasks.risk.engine import record_latency
from mmtasks.runtime import Runtime
from mmtasks.signal.config import SignalConfig
from mmtasks.signal.validate import Context
from mmtasks.state.keys import (
    BEAT_LOCK,
    DROPPED,
    OUTBOX_MAXLEN,
    REHYDRATE_ASKED,
    SYMBOLS,
    TRADES_KEPT,
    keys_for,
)
from mmtasks.state.store import SymbolStore
from mmtasks.trading.commands import apply_command, cancel_everything
from mmtasks.trading.effects import Effects, fill_effects
from mmtasks.trading.executor import execute
from mmtasks.trading.reconcile import TradeBook, reconcile
from mmtasks.trading.signal_step import decide_signal, inbox_input, rejected_ids
from mmtasks.trading.snapshot import (
    Snapshot,
    SymbolStatus,
    diff_batch,
    load_snapshot,
    rebase,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

INBOX_BATCH = 500
CANDLES_KEPT_EXTRA = 5
RETRY_BACKOFF_BASE_S = 0.5
DROP_LOG_EVERY_S = 10.0
BEAT_CHECK_EVERY_S = 30.0
_last_drop_log = 0.0
_last_beat_check = 0.0


@dataclass
class StepResult:
    symbol: str
    trigger: str
    status: str = ""
    events_applied: int = 0
    actions: list[Action] = field(default_factory=list)
    skipped: str = ""
    tick_to_order_ms: float | None = None
    events: list[dict[str, str]] = field(default_factory=list)


def now_ms() -> int:
    return int(time.time() * 1000)


def run_step(
    rt: Runtime, symbol: str, trigger: str, *, clear_price_pending: bool = False
) -> StepResult:
    """Run one step for symbol under its lock; a failure is answered as its class says.

    Temporary faults (connector, Redis, Postgres) make the symbol DEGRADED and are retried with
    capped exponential backoff; only an operational error, or a temporary one that outlasts
    `degraded_to_error_s`, moves the symbol to ERROR (errors.policy_for decides which is which).
    """
    if not in_fleet(rt, symbol, trigger):
        if clear_price_pending and _well_formed(symbol):  # DEL never creates a key
            rt.redis.delete(keys_for(symbol).price_pending)
        return StepResult(symbol, trigger, skipped="symbol not in the fleet")
    store = SymbolStore(rt.redis, symbol)
    ttl_ms = rt.settings.lock_ttl_ms
    token = store.acquire(ttl_ms, wait_s=ttl_ms / 1000 + 1)
    if token is None:
        if clear_price_pending:  # or no price task would be sent until the flag expires
            rt.redis.delete(store.keys.price_pending)
        return StepResult(symbol, trigger, skipped="lock held by another worker")
    try:
        started = time.perf_counter()
        result = _locked_step(rt, store, token, trigger, clear_price_pending)
        _record_metrics(rt, symbol, (time.perf_counter() - started) * 1000, result)
        _check_beat(rt)
        return result
    except LockLostError:
        log.error("%s: lock lost mid-step; nothing more written by this step", symbol)
        raise
    except Exception as exc:
        response = policy_for(exc)
        record_failure(rt, store, exc, response)
        if response in (Response.RETRY, Response.AMBIGUOUS):
            return StepResult(symbol, trigger, status="DEGRADED", skipped=f"degraded: {exc}")
        raise
    finally:
        with contextlib.suppress(Exception):  # Redis may be the fault; the lock then expires
            store.release(token)


def _record_metrics(rt: Runtime, symbol: str, step_ms: float, result: StepResult) -> None:
    """Add the step's duration, tick-to-order time and order counts to its metrics (one trip).

    Best effort: a step that dies before this loses its figures, never counts them twice.
    """
    pipe = rt.redis.pipeline(transaction=False)
    record_step(pipe, symbol, step_ms, result.tick_to_order_ms)
    count_order_events(pipe, symbol, result.events)
    with contextlib.suppress(Exception):  # metrics never fail a step that traded
        pipe.execute()


def _check_beat(rt: Runtime) -> None:
    """Alert when no beat holds its lock (no risk, healing or sweeping runs); throttled."""
    global _last_beat_check  # noqa: PLW0603 - one throttle per worker process
    now = time.monotonic()
    if now - _last_beat_check < BEAT_CHECK_EVERY_S:
        return
    _last_beat_check = now
    with contextlib.suppress(Exception):  # an alert never fails a step that traded
        if not rt.redis.exists(BEAT_LOCK):
            from mmtasks.alerts import alert

            alert(
                rt.redis,
                "beat-down",
                "beat is not running",
                "No `celery -A mmtasks beat` holds mm:beat:lock: fleet risk, healing and the "
                "inbox sweeper are not scheduled. Start beat.",
                severity="failure",
                settings=rt.settings,
            )


def _well_formed(symbol: str) -> bool:
    try:
        parse_symbol(symbol)
    except ValidationError:
        return False
    return True


def in_fleet(rt: Runtime, symbol: str, trigger: str) -> bool:
    """Return True if symbol is one of the fleet's; count and drop the task otherwise.

    A task for a symbol that is not in the fleet must not create a single key for it. When
    the fleet's symbol set itself is gone (Redis restarted empty), ask beat's healer to
    rehydrate from the registry now instead of at its next round.
    """
    if not _well_formed(symbol):
        _drop(rt, "malformed symbol", symbol, trigger)
        return False
    pipe = rt.redis.pipeline(transaction=False)
    pipe.sismember(SYMBOLS, symbol)
    pipe.exists(keys_for(symbol).state)  # a removed symbol's worker still settles its orders
    member, has_state = pipe.execute()
    if member or has_state:
        return True
    if rt.redis.set(REHYDRATE_ASKED, "1", nx=True, ex=5):
        from mmtasks.celery import CONTROL_QUEUE, app

        app.send_task("mmtasks.beat.heal_fleet", queue=CONTROL_QUEUE)
    _drop(rt, "unknown symbol", symbol, trigger)
    return False


def _drop(rt: Runtime, reason: str, symbol: str, trigger: str) -> None:
    global _last_drop_log  # noqa: PLW0603 - one rate limit per worker process
    count = rt.redis.hincrby(DROPPED, reason, 1)
    now = time.monotonic()
    if now - _last_drop_log >= DROP_LOG_EVERY_S:
        _last_drop_log = now
        log.warning(
            "dropped %s task for %s %r (%d dropped for this reason so far; logged at most "
            "every %.0fs)",
            trigger,
            reason,
            symbol[:40],
            count,
            DROP_LOG_EVERY_S,
        )


def record_failure(rt: Runtime, store: SymbolStore, exc: BaseException, response: Response) -> None:
    """Record a failed step: DEGRADED with a backoff for a temporary fault, else ERROR."""
    k = store.keys
    message = f"{type(exc).__name__}: {exc}"[:500]
    now = now_ms()
    try:
        meta = {
            key: value.decode() if isinstance(value, bytes) else value
            for key, value in zip(
                ("degraded_since_ms", "retry_count", "status"),
                rt.redis.hmget(k.state, ["degraded_since_ms", "retry_count", "status"]),
                strict=True,
            )
        }
    except Exception as redis_exc:  # Redis is the fault: nothing can be recorded there
        log.warning(
            "%s: step failed and Redis does not answer (%s): %s", store.symbol, redis_exc, message
        )
        return
    fields: dict[str, str] = {"last_error": message, "needs_reconcile": "1"}
    events: list[dict[str, str]] = []
    if response in (Response.RETRY, Response.AMBIGUOUS):
        since = int(meta.get("degraded_since_ms") or 0) or now
        retries = int(meta.get("retry_count") or 0) + 1
        backoff_s = min(RETRY_BACKOFF_BASE_S * 2 ** (retries - 1), rt.settings.retry_backoff_max_s)
        # A venue that said how long to wait (429 / 418 Retry-After) is not asked sooner.
        backoff_s = max(backoff_s, float(getattr(exc, "retry_after_s", 0) or 0))
        fields |= {
            "degraded_since_ms": str(since),
            "retry_count": str(retries),
            "retry_at_ms": str(now + int(backoff_s * 1000)),
            "last_error_dependency": dependency_of(exc) or "",
        }
        if since == now:
            events.append(event_fields(EventType.SYMBOL_DEGRADED, store.symbol, {"error": message}))
        lasted_s = (now - since) / 1000
        # A rate limit never escalates: the budget or the venue paces the fleet on purpose,
        # and a symbol in ERROR would wait for beat's recovery long after the limit has passed.
        paced = isinstance(exc, RateLimitedError)
        if (
            paced
            or lasted_s < rt.settings.degraded_to_error_s
            or meta.get("status") == SymbolStatus.ERROR
        ):
            log.warning(
                "step degraded symbol=%s retry=%d in=%.1fs for=%.1fs error=%s",
                store.symbol,
                retries,
                backoff_s,
                lasted_s,
                message,
            )
            _write_failure(rt, store, fields, events)
            return
        message = f"temporary fault lasted {lasted_s:.0f}s: {message}"[:500]
        fields["last_error"] = message
    fields["status"] = SymbolStatus.ERROR
    fields["error_since_ms"] = str(now)
    events.append(
        event_fields(
            EventType.SYMBOL_STATE_CHANGED,
            store.symbol,
            {"status": SymbolStatus.ERROR, "error": message},
        )
    )
    log.error("symbol moved to ERROR symbol=%s error=%s", store.symbol, message)
    _write_failure(rt, store, fields, events)


def _write_failure(
    rt: Runtime, store: SymbolStore, fields: dict[str, str], events: list[dict[str, str]]
) -> None:
    with contextlib.suppress(Exception):  # Redis may be the fault itself
        rt.redis.hset(store.keys.state, mapping=fields)  # type: ignore[arg-type]
        if events:
            first = store.emit(events)
            relay(rt.redis, store.symbol, first, events)


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
    started_ms = now_ms()
    fx = Effects(grid=snap.grid, meta={}, candles=dict(snap.candles))
    last_seq = snap.last_seq
    status = snap.status

    entries = store.read_inbox(last_seq, INBOX_BATCH)
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
            counted = fx.meta.get("rejected_events") or snap.meta.get("rejected_events") or "0"
            fx.meta["rejected_events"] = str(int(counted) + 1)
            log.error(
                "%s: skipped malformed inbox event seq %d: %s",
                symbol,
                entry.seq,
                exc.errors(include_url=False)[:2],
            )
            continue
        if isinstance(event, OrderEvent):
            realized_before = fx.grid.position.realized_pnl
            _apply_order(fx, event)
            inbox_input(fx, event)
            streak = int((snap.meta | fx.meta).get("losing_streak") or 0)
            streak = losing_streak(streak, realized_before, fx.grid.position.realized_pnl)
            fx.meta["losing_streak"] = str(streak)
        elif isinstance(event, CandleEvent):
            fx.candles[event.open_ms] = event_to_candle(event)
            inbox_input(fx, event)
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
    # Backing off after a temporary fault, or in ERROR: apply what the inbox brought (fills
    # are never ignored), but call the exchange for nothing until the retry is due.
    meta = snap.meta | fx.meta
    waiting = status == SymbolStatus.ERROR or (
        bool(meta.get("degraded_since_ms")) and now_ms() < int(meta.get("retry_at_ms") or 0)
    )
    actions: list[Action] = []
    if needs_reconcile and rules is not None and status != SymbolStatus.REMOVED and not waiting:
        fx.meta["needs_reconcile"] = "0"  # reconcile sets it again if it must run once more
        grid_config = strategy if isinstance(strategy, GridConfig) else None
        venue = rt.exchange_for(fx.exchange or snap.exchange)
        actions += reconcile(venue, snap, fx, grid_config, rules, now_ms(), _trade_book(rt, store))
    fleet = _fleet_state(snap, fx)
    if status == SymbolStatus.ACTIVE and not waiting:
        _check_breaker(snap, fx, risk)
    status = fx.meta.get("status", status)
    if isinstance(strategy, SignalConfig) and rules is not None:
        actions += _decide_signal(rt, snap, fx, strategy, risk, rules, fleet, status, waiting)
    elif waiting:
        if fx.meta.get("give_up") == "1":  # recovery exhausted: entries go, closing orders stay
            actions += [
                a for a in cancel_everything(fx.grid, "recovery exhausted") if not _closing(fx, a)
            ]
    elif status != SymbolStatus.ACTIVE or fleet is FleetState.HALTED:
        actions += cancel_everything(fx.grid)
    elif isinstance(strategy, GridConfig) and rules is not None:
        actions += _decide(snap, fx, strategy, risk, rules, fleet)
    places = [a for a in actions if isinstance(a, PlaceOrder)]
    for place in places:
        fx.intend(place)
    fx.meta["last_step_ms"] = str(now_ms())

    # Commit #1: events applied, cursor advanced, intents written — before any order leaves.
    snap = _commit(store, token, snap, fx)
    result.events.extend(fx.events)
    fills = len(fx.fills)
    slow = False
    if actions:
        fx2 = Effects(grid=snap.grid, meta={}, candles=dict(snap.candles))
        sent_ms = now_ms()
        error = execute(rt.exchange_for(snap.exchange), symbol, actions, fx2, sent_ms)
        acked_ms = now_ms()
        if places and snap.tick is not None:
            result.tick_to_order_ms = max(0, acked_ms - snap.tick.ts_event_ms)
        _record_round_trips(rt, (acked_ms - sent_ms) / len(actions), acked_ms)
        if places and error is None:
            since = max(started_ms, snap.tick.ts_event_ms if snap.tick is not None else 0)
            slow = _check_latency(snap, fx2, risk, acked_ms - since, acked_ms)
        if isinstance(strategy, SignalConfig):  # the pipeline hears of refusals next step
            refused = rejected_ids(fx2.events)
            if refused:
                fx2.meta["signal_rejected"] = ",".join(refused)
        snap = _commit(store, token, snap, fx2)
        result.events.extend(fx2.events)
        result.actions.extend(actions)
        fills += len(fx2.fills)
        if error is not None:
            raise error  # committed what was done; the policy decides what the error means
    recovering = snap.meta.get("degraded_since_ms") or snap.meta.get("recovering") == "1"
    if not waiting and not slow and recovering:
        snap = _recovered(store, token, snap)
    more = len(entries) == INBOX_BATCH
    return snap, len(entries), fills, more


def _decide_signal(
    rt: Runtime,
    snap: Snapshot,
    fx: Effects,
    config: SignalConfig,
    risk: RiskConfig,
    rules: SymbolRules,
    fleet: FleetState,
    status: str,
    waiting: bool,
) -> list[Action]:
    """Return a signal symbol's orders: its pipeline's, or every cancel while it may not trade.

    The pipeline runs whatever the status (fills and candles keep its state true); it is told
    the fleet state and whether the symbol trades, and places nothing when it may not.
    """
    active = status == SymbolStatus.ACTIVE and not waiting
    context = Context(
        rules=rules,
        fleet_state=fleet.value,
        max_position=risk.max_position,
        paused=not active,
    )
    actions = decide_signal(
        rt.exchange_for(snap.exchange),
        snap,
        fx,
        config,
        context,
        trading=not waiting,
        now_ms=now_ms(),
    )
    if not waiting and (not active or fleet is FleetState.HALTED):
        asked = {a.client_order_id for a in actions}
        actions += [a for a in cancel_everything(fx.grid) if a.client_order_id not in asked]
    if waiting and fx.meta.get("give_up") == "1":  # recovery exhausted: entries go
        actions += [
            a for a in cancel_everything(fx.grid, "recovery exhausted") if not _closing(fx, a)
        ]
    return actions


def _closing(fx: Effects, action: Action) -> bool:
    """Return True if action cancels a closing order (kept when recovery gives up)."""
    return isinstance(action, CancelOrder) and fx.grid.slot_at(action.level).closing


def _recovered(store: SymbolStore, token: str, snap: Snapshot) -> Snapshot:
    """Clear the DEGRADED condition once a step talked to every dependency without a fault."""
    since = int(snap.meta.get("degraded_since_ms") or snap.meta.get("error_since_ms") or 0)
    fx = Effects(
        grid=snap.grid,
        meta={
            "degraded_since_ms": "",
            "retry_count": "0",
            "retry_at_ms": "",
            "last_error_dependency": "",
            "recovering": "0",
        },
        candles=dict(snap.candles),
    )
    fx.event(
        EventType.SYMBOL_RECOVERED,
        {
            "from": "ERROR" if snap.meta.get("recovering") == "1" else "DEGRADED",
            "down_for_ms": now_ms() - since if since else 0,
            "last_error": snap.meta.get("last_error", ""),
        },
    )
    log.info(
        "symbol recovered symbol=%s degraded_for=%.1fs", store.symbol, (now_ms() - since) / 1000
    )
    return _commit(store, token, snap, fx)


def _trade_book(rt: Runtime, store: SymbolStore) -> TradeBook:
    """Return what reconcile needs to know about trades already counted."""

    def known(ids: list[str], in_ledger: bool) -> set[str]:
        scores = rt.redis.zmscore(store.keys.trades, ids) if ids else []
        found = {tid for tid, score in zip(ids, scores, strict=True) if score is not None}
        if in_ledger:
            found |= _from_ledger(rt, lambda conn: known_trade_ids(conn, ids))
        return found

    def ledger() -> tuple[CorePosition, int]:
        return _from_ledger(rt, lambda conn: ledger_position(conn, store.symbol))

    return TradeBook(known=known, ledger=ledger)


def _from_ledger(rt: Runtime, read: Callable[[Any], T]) -> T:
    """Run read on a ledger connection; a Postgres fault becomes a DependencyError (retry)."""
    try:
        with rt.pg.connection() as conn:
            return read(conn)
    except Exception as exc:
        if policy_for(exc) is Response.RETRY:
            raise DependencyError("postgres", f"the ledger is unavailable: {exc}") from exc
        raise


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


def _fleet_state(snap: Snapshot, fx: Effects) -> FleetState:
    """Return the fleet state this step acts on; record it (and an event) when it changed.

    Unknown text in mm:fleet counts as HALTED: a fleet state nobody can read must not trade.
    """
    fleet = stricter(snap.fleet_state, FleetState.ACTIVE.value)
    if fleet.value != (snap.meta.get("fleet_state") or FleetState.ACTIVE.value):
        fx.meta["fleet_state"] = fleet.value
        fx.event(EventType.SYMBOL_STATE_CHANGED, {"fleet_state": fleet.value})
        log.warning("fleet state seen symbol=%s fleet=%s", snap.symbol, fleet.value)
    return fleet


def _check_breaker(snap: Snapshot, fx: Effects, risk: RiskConfig) -> None:
    """Trip the symbol's circuit breaker on drawdown from its own peak or a losing streak."""
    if risk.max_drawdown_quote is None and risk.max_losing_closes is None:
        return
    meta = snap.meta | fx.meta
    if meta.get("breaker"):
        return  # tripped already: resume_symbol clears it
    mark = snap.tick.price if snap.tick is not None else None
    equity = symbol_equity(fx.grid.position, mark)
    peak = Decimal(meta["equity_hwm"]) if meta.get("equity_hwm") else None
    check = check_breaker(risk, equity, peak, int(meta.get("losing_streak") or 0))
    if check.high_water != peak:
        fx.meta["equity_hwm"] = canon(check.high_water)
    if check.tripped is None:
        return
    limit, figure, threshold = check.tripped
    action = risk.breaker_action
    fx.meta["breaker"] = action
    fx.meta["breaker_reason"] = f"{limit}: {figure} (limit {threshold})"
    fx.event(
        EventType.RISK_LIMIT_BREACHED,
        {"limit": limit, "figure": figure, "threshold": threshold, "action": action},
    )
    if action == "PAUSED":
        fx.meta["status"] = SymbolStatus.PAUSED
        fx.event(EventType.SYMBOL_PAUSED, {"issued_by": "breaker", "reason": limit})
    log.warning(
        "circuit breaker symbol=%s limit=%s figure=%s threshold=%s action=%s",
        snap.symbol,
        limit,
        figure,
        threshold,
        action,
    )


def _record_round_trips(rt: Runtime, ms_per_call: float, at_ms: int) -> None:
    """Add the step's connector round trips to the fleet's latency samples (best effort)."""
    with contextlib.suppress(Exception):
        pipe = rt.redis.pipeline(transaction=False)
        record_latency(pipe, ms_per_call, at_ms)
        pipe.execute()


def _check_latency(
    snap: Snapshot, fx: Effects, risk: RiskConfig, tick_to_ack_ms: int, now: int
) -> bool:
    """Make the symbol DEGRADED (backing off) when tick to ack exceeded its limit."""
    limit = risk.max_tick_to_ack_ms
    if limit is None or tick_to_ack_ms <= limit:
        return False
    retries = int(snap.meta.get("retry_count") or 0) + 1
    backoff_ms = int(min(RETRY_BACKOFF_BASE_S * 2 ** (retries - 1), 10.0) * 1000)
    message = f"slow: tick to ack {tick_to_ack_ms} ms > max_tick_to_ack_ms {limit}"
    since = snap.meta.get("degraded_since_ms") or str(now)
    fx.meta.update(
        {
            "degraded_since_ms": since,
            "retry_count": str(retries),
            "retry_at_ms": str(now + backoff_ms),
            "last_error": message,
            "last_error_dependency": "connector",
        }
    )
    if not snap.meta.get("degraded_since_ms"):
        fx.event(EventType.SYMBOL_DEGRADED, {"error": message})
    log.warning("step degraded symbol=%s %s; pausing %d ms", snap.symbol, message, backoff_ms)
    return True


def _decide(
    snap: Snapshot,
    fx: Effects,
    strategy: GridConfig,
    risk: RiskConfig,
    rules: SymbolRules,
    fleet: FleetState,
) -> list[Action]:
    """Return the core's actions for the newest price, or none before the first price."""
    if snap.tick is None:
        return []
    if fx.grid.anchor is None:
        fx.grid = with_anchor(fx.grid, snap.tick.price, rules.tick_size)
    grid = fx.grid
    if (snap.meta | fx.meta).get("breaker") == "REDUCING" and not grid.reduce_only:
        grid = dataclasses.replace(grid, reduce_only=True)
    market = Market(
        price=snap.tick.price,
        price_ts_ms=snap.tick.ts_event_ms,
        candles=tuple(fx.candles[ts] for ts in sorted(fx.candles)),
    )
    fx.meta["last_price"] = str(snap.tick.price)
    fx.meta["last_price_ts_ms"] = str(snap.tick.ts_event_ms)
    reducing = fleet is FleetState.REDUCING
    return decide(grid, market, strategy, risk, rules, now_ms(), no_new_exposure=reducing)


def _commit(store: SymbolStore, token: str, snap: Snapshot, fx: Effects) -> Snapshot:
    """Write fx atomically under the lock with the fills and events it produced."""
    k = keys_for(store.symbol)
    batch = diff_batch(snap, fx.grid, fx.meta, fx.candles)
    if fx.strategy is not None or fx.risk is not None or fx.exchange is not None:
        batch.hset(k.config, fx.config_fields())
    batch.rpush(k.fills_out, [f.to_json() for f in fx.fills])
    counted = {f.trade_id: f.ts_ms for f in fx.fills} | fx.counted_trades
    if counted:
        batch.zadd(k.trades, counted, TRADES_KEPT)
        newest = max(counted.values())
        if newest > int(snap.meta.get("trades_cursor_ms") or 0):
            batch.hset(k.state, {"trades_cursor_ms": str(newest)})
            fx.meta["trades_cursor_ms"] = str(newest)
    if fx.signal is not None:
        batch.hset(k.signal, {f: v for f, v in fx.signal.items() if snap.raw_signal.get(f) != v})
        batch.hdel(k.signal, [f for f in snap.raw_signal if f not in fx.signal])
    if fx.health is not None:
        batch.hset(k.health, fx.health)
    batch.events(k.outbox, k.state, fx.events, OUTBOX_MAXLEN)
    first = store.commit(token, batch)
    for fill in fx.fills:
        log.info(
            "filled symbol=%s side=%s price=%s qty=%s fee=%s trade_id=%s client_id=%s "
            "position=%s realized=%s",
            fill.symbol,
            fill.side,
            fill.price,
            fill.qty,
            fill.fee,
            fill.trade_id,
            fill.client_order_id,
            fx.grid.position.qty,
            fx.grid.position.realized_pnl,
        )
    if fx.events:
        with contextlib.suppress(Exception):  # committed in the outbox; beat relays it later
            relay(store.r, store.symbol, first, fx.events)
    new = rebase(snap, fx.grid, fx.meta, fx.candles)
    new.raw_signal = snap.raw_signal if fx.signal is None else fx.signal
    new.raw_health = snap.raw_health if fx.health is None else fx.health
    if fx.strategy is not None:
        new.strategy = fx.strategy
    if fx.risk is not None:
        new.risk = fx.risk
    if fx.exchange is not None:
        new.exchange = fx.exchange
    return new

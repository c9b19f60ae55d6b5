"""What a step decides, as pure functions: the worker's shell and replay call the same ones.

No Redis, no venue, no clock: time comes in as `now_ms`, what the symbol knew as a `Snapshot`,
and every change goes into an `Effects` (new grid, state fields, candles, events) that the
caller commits. The worker's shell (`trading/step.py`) runs, in order:

  absorb(inbox events) -> gate -> [reconcile, I/O] -> decide_step -> commit -> execute
  -> latency_guard -> commit -> recovered

and `replay/engine.py` runs absorb-like fills, `decide_step` and the same breaker on a replay
venue. A policy lives here once: the circuit breaker, the fleet state, the give-up filter,
cancelling everything while a symbol may not trade; and, in `health.py` (re-exported here), the
latency guard, recovery and what a failed step records (`failure`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from mmtasks.decimals import ZERO, canon
from mmtasks.domain import FleetState, stricter
from mmtasks.events import EventType
from mmtasks.grid.band import Band, LiveSetup, quiet_band
from mmtasks.grid.logic import decide, with_anchor
from mmtasks.grid.models import (
    Action,
    CancelOrder,
    Candle,
    GridConfig,
    GridState,
    Market,
    Position,
    RiskConfig,
    SlotStatus,
    SymbolRules,
)
from mmtasks.grid.quickinit import quick_init
from mmtasks.grid.transitions import apply_order_update
from mmtasks.kinds import kind_of
from mmtasks.messages import CandleEvent, CommandEvent, OrderEvent
from mmtasks.risk.breaker import (
    Prices,
    check_breaker,
    losing_streak,
    quiet_prices,
    symbol_equity,
)
from mmtasks.signal import pipeline
from mmtasks.state.codec import SymbolStatus
from mmtasks.state.keys import StateFields
from mmtasks.trading import health
from mmtasks.trading.commands import apply_command, cancel_everything
from mmtasks.trading.effects import Effects, fill_effects
from mmtasks.trading.snapshot import Snapshot

log = logging.getLogger(__name__)

CANDLES_KEPT_EXTRA = 5

# After the venue answered (trading/health.py): the worker's shell calls them from here.
Failure = health.Failure
failure = health.failure
latency_guard = health.latency_guard
recovered = health.recovered

InboxEvent = OrderEvent | CandleEvent | CommandEvent
# The signal kind's decision (it may read the venue's history): (fleet, status) -> actions.
KindDecision = Callable[[FleetState, str], list[Action]]


# -- inputs -------------------------------------------------------------------------------------


def absorb(snap: Snapshot, fx: Effects, events: Sequence[InboxEvent]) -> None:
    """Apply inbox events in order: fills (and the losing streak), candles, commands."""
    for event in events:
        if isinstance(event, OrderEvent):
            realized_before = fx.grid.position.realized_pnl
            apply_order(fx, event)
            inbox_input(fx, event)
            count_close(snap, fx, realized_before)
        elif isinstance(event, CandleEvent):
            fx.candles[event.open_ms] = event_to_candle(event)
            inbox_input(fx, event)
        else:
            apply_command(snap, fx, event)
    trim_candles(fx, snap)


def inbox_input(fx: Effects, event: OrderEvent | CandleEvent) -> None:
    """Queue an inbox event for the pipeline (its own stage reads it in the decision)."""
    if isinstance(event, CandleEvent):
        if event.closed:
            fx.signal_inputs.append(event)
        return
    trade = event.trade
    fx.signal_inputs.append(
        pipeline.OrderChanged(
            client_order_id=event.client_order_id,
            status=event.status,
            cum_qty=event.executed_qty,
            ts_ms=trade.ts_ms if trade else event.ts_event_ms,
            last_fill_price=trade.price if trade else (event.avg_price or None),
            fee=trade.fee if trade else Decimal(0),
            venue_order_id=event.order_id,
        )
    )


def count_close(snap: Snapshot, fx: Effects, realized_before: Decimal) -> None:
    """Update the losing streak after a fill (a losing close adds one, a winning one resets)."""
    meta = snap.meta | fx.meta
    fx.meta["losing_streak"] = streak_after(meta, realized_before, fx.grid.position.realized_pnl)


def streak_after(meta: StateFields, realized_before: Decimal, realized_after: Decimal) -> str:
    """Return the state's losing streak after a fill moved realized PnL (replay counts so too)."""
    streak = int(meta.get("losing_streak") or 0)
    return str(losing_streak(streak, realized_before, realized_after))


def apply_order(fx: Effects, event: OrderEvent) -> None:
    """Apply one order update of the venue to fx's grid; its fills become ledger rows."""
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
    """Return the core Candle of a candle event (its fields of the same names)."""
    return Candle(**{name: getattr(event, name) for name in _CANDLE_FIELDS})


_CANDLE_FIELDS = tuple(f.name for f in dataclasses.fields(Candle))


def trim_candles(fx: Effects, snap: Snapshot) -> None:
    """Keep the candles the volume monitor and ATR read, and a few more."""
    keep = snap.risk.average_window + CANDLES_KEPT_EXTRA
    if len(fx.candles) > keep:
        for ts in sorted(fx.candles)[: len(fx.candles) - keep]:
            del fx.candles[ts]


# -- the gate: may this step call the venue? --------------------------------------------------


@quick_init
@dataclass(frozen=True)
class Gate:
    """What the step may do: its status, whether it backs off, whether it must reconcile."""

    status: str
    waiting: bool  # in ERROR, or DEGRADED before its retry is due: the venue is not called
    needs_reconcile: bool


def gate(snap: Snapshot, fx: Effects, now_ms: int) -> Gate:
    """Return the step's gate once the inbox is absorbed.

    Backing off after a temporary fault, or in ERROR: what the inbox brought is applied (fills
    are never ignored), but the exchange is called for nothing until the retry is due.
    """
    meta = snap.meta | fx.meta
    status = fx.meta.get("status", snap.status)
    waiting = status == SymbolStatus.ERROR or (
        bool(meta.get("degraded_since_ms")) and now_ms < int(meta.get("retry_at_ms") or 0)
    )
    # A step leaves no intent PENDING unless it also asked for a reconcile: one found here was
    # left by a step that died between its write-ahead commit and the venue's answer.
    stranded = any(s.status is SlotStatus.PENDING for s in fx.grid.slots.values())
    due = now_ms >= int(meta.get("reconcile_after_ms") or 0)  # a held create: asked again then
    needs = (meta.get("needs_reconcile") == "1" or stranded) and due
    rules = fx.rules or snap.rules
    # A removed symbol reconciles too: until none of its orders rests, it is still trading.
    return Gate(status, waiting, needs and rules is not None)


def fleet_change(was_removed: bool, snap: Snapshot) -> str:
    """Return "leave" once a removed symbol has drained, "join" when a removed one was added
    again (its `init` made it ACTIVE; it may be PAUSED after), else "" (the fleet set stays)."""
    if drained(snap):
        return "leave"
    rejoined = was_removed and snap.status in (SymbolStatus.ACTIVE, SymbolStatus.PAUSED)
    return "join" if rejoined else ""


def drained(snap: Snapshot) -> bool:
    """True once a removed symbol holds no order and has nothing left to ask the venue: its
    worker then takes it out of the fleet (`mm:symbols`), which stops its stream, its worker
    and its wakes (docs/operations.md, "Removing a symbol")."""
    if snap.status != SymbolStatus.REMOVED:
        return False
    if snap.meta.get("needs_reconcile") == "1" and snap.rules is not None:  # (none: it cannot)
        return False
    return all(slot.status is SlotStatus.FREE for slot in snap.grid.slots.values())


# -- the decision ---------------------------------------------------------------------------


def decide_step(
    snap: Snapshot,
    fx: Effects,
    g: Gate,
    now_ms: int,
    kind: KindDecision | None = None,
    *,
    market: Market | None = None,
    display: bool = True,
) -> list[Action]:
    """Return the step's orders: the fleet state and breaker first, then the kind's decision.

    While the symbol waits, only recovery's give-up acts (entries go, closing orders stay);
    while it may not trade (not ACTIVE, or the fleet HALTED), every resting order is
    cancelled; otherwise the grid decides on the newest price (reduce-only when its breaker
    says REDUCING, no new exposure while the fleet is REDUCING). A signal symbol's pipeline
    (`kind`) decides in every case: it follows fills and candles whatever the status.
    `market` is the newest price with its candles when the caller has it built (replay);
    the worker's is built from the snapshot's tick and the step's candles. Without `display`
    the price seen is not written as the display fields (`last_price`): replay keeps no such
    fields, and a decision is the same without them.
    """
    risk = fx.risk or snap.risk
    fleet = fleet_state(snap, fx)
    if g.status == SymbolStatus.ACTIVE and not g.waiting:
        breaker(snap, fx, risk, now_ms)
    status = fx.meta.get("status", g.status)
    strategy = fx.strategy or snap.strategy
    fx.band_decided = True  # no band unless the grid settles with one (decide_grid)
    decision = DECISIONS[kind_of(strategy).name if strategy is not None else "grid"]
    return decision(Turn(snap, fx, g, fleet, status, now_ms, market, kind, display))


@quick_init
@dataclass(frozen=True)
class Turn:
    """What a kind's decision is given: the step so far, the fleet state and the status."""

    snap: Snapshot
    fx: Effects
    gate: Gate
    fleet: FleetState
    status: str
    now_ms: int
    market: Market | None  # replay hands it built; the worker's comes from the tick
    pipeline: KindDecision | None  # a kind the shell builds with the venue (signal)
    display: bool = True  # write the price seen as the state's display fields


def _grid_decision(t: Turn) -> list[Action]:
    """The grid kind (and a symbol with no strategy yet): the grid core on the newest price."""
    snap, fx = t.snap, t.fx
    if t.display and snap.tick is not None:  # the price this step saw, whatever it does
        fx.meta["last_price"] = str(snap.tick.price)
        fx.meta["last_price_ts_ms"] = str(snap.tick.ts_event_ms)
    if t.gate.waiting:
        return give_up_cancels(fx)
    if t.status != SymbolStatus.ACTIVE or t.fleet is FleetState.HALTED:
        return cancel_everything(fx.grid)
    strategy, rules, risk = (
        fx.strategy or snap.strategy,
        fx.rules or snap.rules,
        fx.risk or snap.risk,
    )
    if isinstance(strategy, GridConfig) and rules is not None:
        return decide_grid(snap, fx, strategy, risk, rules, t.fleet, t.now_ms, t.market)
    return []


def _pipeline_decision(t: Turn) -> list[Action]:
    """The signal kind: its pipeline (built by the shell with the venue) decides in every case
    but one: a removed symbol's pipeline runs no more; its orders are cancelled."""
    if t.status == SymbolStatus.REMOVED:
        return [] if t.gate.waiting else cancel_everything(t.fx.grid)
    rules = t.fx.rules or t.snap.rules
    return t.pipeline(t.fleet, t.status) if t.pipeline is not None and rules is not None else []


# Each strategy kind's decision, by the kind's name (mmtasks/kinds): a third kind adds its line.
DECISIONS: dict[str, Callable[[Turn], list[Action]]] = {
    "grid": _grid_decision,
    "signal": _pipeline_decision,
}


def give_up_cancels(fx: Effects) -> list[Action]:
    """Recovery exhausted: cancel the entry orders, keep the closing ones (else nothing)."""
    if fx.meta.get("give_up") != "1":
        return []
    return [a for a in cancel_everything(fx.grid, "recovery exhausted") if not _closing(fx, a)]


def _closing(fx: Effects, action: Action) -> bool:
    return isinstance(action, CancelOrder) and fx.grid.slot_at(action.level).closing


def decide_grid(
    snap: Snapshot,
    fx: Effects,
    strategy: GridConfig,
    risk: RiskConfig,
    rules: SymbolRules,
    fleet: FleetState,
    now_ms: int,
    market: Market | None = None,
) -> list[Action]:
    """Return the grid core's actions for the newest price, or none before the first price."""
    if snap.tick is None:
        return []
    if fx.grid.anchor is None:
        fx.grid = with_anchor(fx.grid, snap.tick.price, rules.tick_size)
    grid = fx.grid
    if field_of(snap, fx, "breaker") == "REDUCING" and not grid.reduce_only:
        grid = dataclasses.replace(grid, reduce_only=True)
    live = market is None
    if market is None:
        market = Market(
            price=snap.tick.price,
            price_ts_ms=snap.tick.ts_event_ms,
            candles=tuple(fx.candles[ts] for ts in sorted(fx.candles)),
        )
    reducing = fleet is FleetState.REDUCING
    actions = decide(grid, market, strategy, risk, rules, now_ms, no_new_exposure=reducing)
    if live and not actions and not reducing and not _reconcile_owed(snap, fx):
        setup = LiveSetup(strategy, risk, rules)
        fx.band = band_text(grid, market, setup, _breaker_prices(snap, fx, grid, setup))
    return actions


def _reconcile_owed(snap: Snapshot, fx: Effects) -> bool:
    """True while a reconcile is owed: no quiet band then, every tick wakes it to ask."""
    return fx.meta.get("needs_reconcile", snap.meta.get("needs_reconcile")) == "1"


def _breaker_prices(
    snap: Snapshot, fx: Effects, grid: GridState, setup: LiveSetup
) -> Prices | None:
    """Return the prices at which the circuit breaker decides as it did in this step."""
    hwm = fx.meta.get("equity_hwm", snap.meta.get("equity_hwm"))
    tripped = field_of(snap, fx, "breaker")
    return breaker_prices(tripped, hwm, setup.risk, grid.position, setup.rules.tick_size)


def breaker_prices(
    tripped: str | None, hwm: str | None, risk: RiskConfig, position: Position, tick_size: Decimal
) -> Prices | None:
    """Return the closed interval of prices where the circuit breaker decides what it decides
    now, by the state's `breaker` and high-water mark `hwm` as stored (risk/breaker.py
    `quiet_prices`). A tripped breaker is not checked again until resume_symbol clears it:
    it bounds no price."""
    if tripped:
        return None, None
    return quiet_prices(risk, position, Decimal(hwm) if hwm else None, tick_size)


def cut_band(band: Band, breaker: Prices | None, price: Decimal) -> Band | None:
    """Return the part of a quiet band where the circuit breaker decides the same (`breaker`,
    closed: None models nothing safe), or None when price is not in it."""
    if breaker is None:
        return None
    lo, hi = breaker
    if lo is not None:
        band = band.above(lo, closed=True)
    if hi is not None:
        band = band.below(hi, closed=True)
    return band if band.contains(price) else None


def band_text(
    grid: GridState, market: Market, setup: LiveSetup, breaker: Prices | None = (None, None)
) -> tuple[str, str] | None:
    """Return the settled grid's quiet band as (lo, hi) text ("": unbounded), or None.

    The worker stores it (mm:{s}:band) and the bridge sends no price task for a tick strictly
    inside it: the grid would decide the same there (grid/band.py, proven against the plain
    loop by replay's equivalence tests), and so would the circuit breaker: the band is cut to
    `breaker` (`cut_band`). None when either models nothing safe.
    """
    found, _, _ = quiet_band(grid, market, setup)
    band = None if found is None else cut_band(found, breaker, market.price)
    if band is None:
        return None
    return (
        canon(band.lo) if band.lo is not None else "",
        canon(band.hi) if band.hi is not None else "",
    )


def fleet_state(snap: Snapshot, fx: Effects) -> FleetState:
    """Return the fleet state this step acts on; record it (and an event) when it changed.

    Unknown text in mm:fleet counts as HALTED: a fleet state nobody can read must not trade.
    """
    fleet = _fleet(snap.fleet_state)
    if fleet.value != (field_of(snap, fx, "fleet_state") or FleetState.ACTIVE.value):
        fx.meta["fleet_state"] = fleet.value
        fx.event(EventType.SYMBOL_STATE_CHANGED, {"fleet_state": fleet.value})
        log.warning("fleet state seen symbol=%s fleet=%s", snap.symbol, fleet.value)
    return fleet


@functools.lru_cache(maxsize=16)
def _fleet(text: str) -> FleetState:
    # A pure function of the text of mm:fleet, asked at every decision.
    return stricter(text, FleetState.ACTIVE.value)


def field_of(snap: Snapshot, fx: Effects, key: Literal["breaker", "fleet_state"]) -> str | None:
    """Return the state field as this step leaves it: (snap.meta | fx.meta).get(key)."""
    meta = fx.meta
    return meta[key] if key in meta else snap.meta.get(key)


def breaker(snap: Snapshot, fx: Effects, risk: RiskConfig, now_ms: int) -> None:
    """Trip the symbol's circuit breaker on drawdown from its own peak or a losing streak.

    Equity is realized - fees + unrealized at the newest price, with the fills this step
    absorbed. (Live, a price and the fills it made may reach a step together or one after the
    other: the peak may then be measured once before those fills. Replay always sees both.)
    """
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
        "circuit breaker symbol=%s limit=%s figure=%s threshold=%s action=%s at_ms=%d",
        snap.symbol,
        limit,
        figure,
        threshold,
        action,
        now_ms,
    )

"""The signal pipeline as one pure step over a symbol's ordered events.

`step(state, event, config, context)` returns (new state, actions, events): a closed candle
updates the indicators, the regime and (in `on_new_candle` mode) evaluates the rules; a price
tick watches the protective stop and (in `on_tick` mode) evaluates the rules on the tick; an
order update applies fills (average cost) and moves the trade along: entry filled -> take-profit
placed and stop armed; take-profit, stop or exit filled -> flat. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TypeAlias

from mmtasks.decimals import canon
from mmtasks.domain import OrderStatus, Side
from mmtasks.grid.accounting import apply_fill, position_events
from mmtasks.grid.actions import Action, PositionChanged
from mmtasks.grid.models import Candle
from mmtasks.grid.sizing import meets_minimums, snap_qty
from mmtasks.signal import events as ev
from mmtasks.signal.config import SignalConfig
from mmtasks.signal.execution import bracket, cancel, entry_qty, marketable_price, place
from mmtasks.signal.indicators import IndicatorBank
from mmtasks.signal.regime import classify
from mmtasks.signal.rules import Condition, Row, describe, holds
from mmtasks.signal.state import Phase, Role, SignalState
from mmtasks.signal.validate import Context, rejection

Output: TypeAlias = ev.SignalEvent | PositionChanged
Result: TypeAlias = tuple[SignalState, list[Action], list[Output]]
TERMINAL = (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED)


@dataclass(frozen=True)
class CandleClosed:
    """A closed candle of the symbol's kline interval."""

    candle: Candle


@dataclass(frozen=True)
class PriceSeen:
    """The newest price."""

    price: Decimal
    ts_ms: int


@dataclass(frozen=True)
class OrderChanged:
    """The venue's news about one of our orders; `cum_qty` is cumulative."""

    client_order_id: str
    status: OrderStatus
    cum_qty: Decimal
    ts_ms: int
    last_fill_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    venue_order_id: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class FetchFailed:
    """Candles or history could not be fetched."""

    reason: str
    ts_ms: int


InputEvent: TypeAlias = CandleClosed | PriceSeen | OrderChanged | FetchFailed


def step(state: SignalState, event: InputEvent, config: SignalConfig, context: Context) -> Result:
    """Return the state after event, the orders to place or cancel and the events to publish."""
    if isinstance(event, CandleClosed):
        return _on_candle(state, event.candle, config, context)
    if isinstance(event, PriceSeen):
        return _on_tick(state, event, config, context)
    if isinstance(event, OrderChanged):
        return _on_order(state, event, config, context)
    return state, [], [ev.DataFetchFailed(state.symbol, event.reason, event.ts_ms)]


def warm(
    state: SignalState, candles: Sequence[Candle], config: SignalConfig
) -> tuple[SignalState, int]:
    """Return the state with history candles added (indicators and regime, no evaluation).

    History (on start, after a gap) must never trade: its signals are old news. Candles at or
    before the newest held are skipped; returns the state and how many candles were added.
    """
    bank = bank_for(state, config)
    added = 0
    for candle in candles:
        if state.candles and candle.open_ms <= state.candles[-1].open_ms:
            continue
        bank.add(candle)
        row = {**price_row(candle), **bank.row()}
        prev = dict(state.row) if state.candles else None
        state = replace(
            state,
            candles=(*state.candles, candle)[-config.nbr_bars :],
            row=row,
            prev_row=prev,
            regime=classify(config.compiled.regime, row, prev),
            last_price=candle.close,
            bank=bank,
        )
        added += 1
    return state, added


def _blocked(context: Context) -> str | None:
    """Return why no order may be placed now (fleet HALTED, symbol not trading), else None."""
    if context.fleet_state == "HALTED":
        return "fleet HALTED"
    if context.paused:
        return "symbol not trading"
    return None


def bank_for(state: SignalState, config: SignalConfig) -> IndicatorBank:
    """Return the state's bank, rebuilt from its candles when lost or out of step."""
    if state.bank is not None and state.bank.follows(state.candles):
        return state.bank
    specs = config.compiled.indicators
    return IndicatorBank.rebuilt(specs, config.nbr_bars, state.candles)


def price_row(candle: Candle) -> dict[str, Decimal | None]:
    """Return the price fields of a candle as row values."""
    return {
        "open": candle.open,
        "high": candle.high,
        "low": candle.low,
        "close": candle.close,
        "volume": candle.volume,
    }


def _on_candle(
    state: SignalState, candle: Candle, config: SignalConfig, context: Context
) -> Result:
    if state.candles and candle.open_ms <= state.candles[-1].open_ms:
        return state, [], []  # a repeat or an older candle changes nothing
    bank = bank_for(state, config)
    bank.add(candle)
    row = {**price_row(candle), **bank.row()}
    prev = dict(state.row) if state.candles else None
    ts = candle.open_ms
    regime = classify(config.compiled.regime, row, prev)
    out: list[Output] = [
        ev.NewCandle(state.symbol, candle.open_ms, candle.close, len(state.candles) + 1, ts),
        ev.IndicatorsUpdated(state.symbol, candle.open_ms, _row_text(bank.row()), ts),
    ]
    if regime != state.regime:
        out.append(ev.RegimeChanged(state.symbol, state.regime, regime, ts))
    since = None if state.bars_since_exit is None else state.bars_since_exit + 1
    state = replace(
        state,
        candles=(*state.candles, candle)[-config.nbr_bars :],
        row=row,
        prev_row=prev,
        regime=regime,
        bars_since_exit=since,
        last_price=candle.close,
        bank=bank,
    )
    extreme = candle.low if state.side is Side.BUY else candle.high
    state, actions, more = _watch_stop(state, extreme, candle.close, ts, config, context)
    out += more
    state, placed = _ensure_take_profit(state, context)
    actions += placed
    if config.evaluation == "on_new_candle" and len(state.candles) >= config.min_rows_required:
        state, acts, more = _evaluate(state, row, prev, ts, config, context)
        actions += acts
        out += more
    return state, actions, out


def _on_tick(state: SignalState, tick: PriceSeen, config: SignalConfig, context: Context) -> Result:
    before = state.last_price
    state = replace(state, last_price=tick.price)
    state, actions, out = _watch_stop(state, tick.price, tick.price, tick.ts_ms, config, context)
    ready = len(state.candles) >= config.min_rows_required and before is not None
    if config.evaluation == "on_tick" and ready:
        row = {**state.row, "close": tick.price}
        prev = {**state.row, "close": before}
        state, acts, more = _evaluate(state, row, prev, tick.ts_ms, config, context)
        actions += acts
        out += more
    return state, actions, out


def _watch_stop(
    state: SignalState,
    reached: Decimal,
    price: Decimal,
    ts: int,
    config: SignalConfig,
    context: Context,
) -> Result:
    stop = state.stop_price
    if state.phase is not Phase.OPEN or stop is None or state.side is None:
        return state, [], []
    hit = reached <= stop if state.side is Side.BUY else reached >= stop
    if not hit:
        return state, [], []
    out: list[Output] = [ev.StopLossHit(state.symbol, state.side, stop, price, ts)]
    state, actions, more = _exit(state, Role.STOP, price, ts, config, context)
    return state, actions, out + more


def _evaluate(
    state: SignalState,
    row: Row,
    prev: Row | None,
    ts: int,
    config: SignalConfig,
    context: Context,
) -> Result:
    rules = config.compiled.rules
    if state.phase is Phase.FLAT:
        candidates = [(name, name) for name in ("long", "short")]
    elif state.phase is Phase.OPEN and state.side is not None:
        held, other = ("long", "short") if state.side is Side.BUY else ("short", "long")
        candidates = [(f"exit_{held}", f"exit_{held}"), (other, f"exit_{held}")]
    else:
        return state, [], []
    price = row.get("close") or state.last_price or Decimal(0)
    out: list[Output] = []
    for rule_name, signal in candidates:
        conds = rules.get(rule_name)
        if not conds:
            continue
        failed = _failed_filter(conds, row, prev, state.regime)
        if failed is None:
            continue
        rule = rule_name if rule_name == signal else f"{rule_name} (opposite signal)"
        out.append(ev.SignalGenerated(state.symbol, signal, rule, price, ts))
        if failed:
            out.append(ev.SignalRejected(state.symbol, signal, failed, ts))
            continue
        qty = entry_qty(config, context.rules, price) if signal in ("long", "short") else None
        reason = rejection(signal, state, config, context, qty)
        if reason is not None:
            out.append(ev.SignalRejected(state.symbol, signal, reason, ts))
            continue
        out.append(ev.SignalValidated(state.symbol, signal, ts))
        if signal in ("long", "short"):
            assert qty is not None
            state, actions = _enter(state, signal, price, qty, config, context)
            return state, actions, out
        state, actions, more = _exit(state, Role.EXIT, price, ts, config, context)
        return state, actions, out + more
    return state, [], out


def _failed_filter(
    conds: Sequence[Condition], row: Row, prev: Row | None, regime: str
) -> str | None:
    """Return None when the rule's triggers did not fire, '' when it passes, else the reason."""
    triggers = [c for c in conds if c.is_trigger] or list(conds)
    if not all(holds(c, row, prev, regime) for c in triggers):
        return None
    for cond in conds:
        if cond not in triggers and not holds(cond, row, prev, regime):
            return describe(cond, row, regime)
    return ""


def _enter(
    state: SignalState,
    signal: str,
    price: Decimal,
    qty: Decimal,
    config: SignalConfig,
    context: Context,
) -> tuple[SignalState, list[Action]]:
    side = Side.BUY if signal == "long" else Side.SELL
    limit = marketable_price(side, price, config, context.rules)
    trade_no = state.trade_no + 1
    action, order = place(state.symbol, Role.ENTRY, side, limit, qty, trade_no)
    state = replace(state, phase=Phase.ENTERING, side=side, trade_no=trade_no)
    return state.with_order(order, Role.ENTRY), [action]


def _exit(
    state: SignalState, role: Role, price: Decimal, ts: int, config: SignalConfig, context: Context
) -> Result:
    assert state.side is not None
    side = state.side.opposite
    limit = marketable_price(side, price, config, context.rules)
    qty = snap_qty(abs(state.position.qty), context.rules)
    blocked = _blocked(context)
    if blocked is not None or not meets_minimums(qty, limit, context.rules):
        why = blocked or "size under the minimums"
        reason = f"{why}: exit of {canon(state.position.qty)} not placed"
        return state, [], [ev.TradeFailed(state.symbol, role.value, reason, "", ts)]
    actions: list[Action] = []
    tp = state.orders.get(Role.TAKE_PROFIT)
    if tp is not None and not tp.cancel_sent:
        actions.append(cancel(state.symbol, tp, f"{role.value} exit"))
        state = state.with_order(replace(tp, cancel_sent=True), Role.TAKE_PROFIT)
    action, order = place(state.symbol, role, side, limit, qty, state.trade_no)
    actions.append(action)
    return replace(state, phase=Phase.EXITING).with_order(order, role), actions, []


def _on_order(
    state: SignalState, update: OrderChanged, config: SignalConfig, context: Context
) -> Result:
    order = state.order_by_client_id(update.client_order_id)
    if order is None:
        return state, [], []  # not an order this trade waits on (a repeat after it closed)
    ts, out = update.ts_ms, list[Output]()
    delta = update.cum_qty - order.filled_qty
    if delta > 0 and update.last_fill_price is not None:
        before = state.position
        position, realized = apply_fill(
            before, order.side, update.last_fill_price, delta, update.fee
        )
        state = replace(state, position=position)
        out.append(
            ev.TradeExecuted(
                state.symbol,
                order.role.value,
                order.side,
                update.last_fill_price,
                delta,
                position.qty,
                realized,
                order.client_order_id,
                ts,
            )
        )
        out += position_events(state.symbol, before, position, ts)
        order = replace(order, filled_qty=update.cum_qty)
    order = replace(order, venue_order_id=update.venue_order_id or order.venue_order_id)
    done = update.status in TERMINAL
    state = state.with_order(None if done else order, order.role)
    if update.status is OrderStatus.REJECTED:
        reason = f"rejected by the venue: {update.reason or 'no reason given'}"
        out.append(
            ev.TradeFailed(state.symbol, order.role.value, reason, order.client_order_id, ts)
        )
    state, actions = _advance(state, order.role, done, config, context)
    return state, actions, out


def _advance(
    state: SignalState, role: Role, done: bool, config: SignalConfig, context: Context
) -> tuple[SignalState, list[Action]]:
    flat = state.position.qty == 0
    if state.phase is Phase.ENTERING:
        if not done:
            return state, []
        if flat:
            return replace(state, phase=Phase.FLAT, side=None), []
        return _arm(state, config, context)
    if state.phase in (Phase.OPEN, Phase.EXITING) and flat:
        actions = [
            cancel(state.symbol, o, "position closed")
            for o in state.orders.values()
            if not o.cancel_sent
        ]
        orders = {r: replace(o, cancel_sent=True) for r, o in state.orders.items()}
        closed = replace(
            state,
            phase=Phase.FLAT,
            side=None,
            stop_price=None,
            take_profit_price=None,
            bars_since_exit=0,
            orders=orders,
        )
        return closed, list(actions)
    if state.phase is Phase.EXITING and done and role in (Role.STOP, Role.EXIT):
        return _arm(replace(state, phase=Phase.OPEN), config, context)  # exit failed: try again
    return state, []


def _arm(
    state: SignalState, config: SignalConfig, context: Context
) -> tuple[SignalState, list[Action]]:
    """Open the trade: stop and take-profit from the average entry price; place the take-profit."""
    side = state.side
    assert side is not None
    atr = state.row.get(config.atr)
    stop, profit = bracket(side, state.position.avg_cost, atr, config, context.rules)
    state = replace(state, phase=Phase.OPEN, stop_price=stop, take_profit_price=profit)
    return _ensure_take_profit(state, context)


def _ensure_take_profit(state: SignalState, context: Context) -> tuple[SignalState, list[Action]]:
    """Place the open trade's take-profit when none works (after a pause, a halt, a refusal)."""
    side, profit = state.side, state.take_profit_price
    if state.phase is not Phase.OPEN or side is None or profit is None:
        return state, []
    if state.orders.get(Role.TAKE_PROFIT) is not None or _blocked(context) is not None:
        return state, []
    qty = snap_qty(abs(state.position.qty), context.rules)
    if not meets_minimums(qty, profit, context.rules):
        return state, []
    action, order = place(
        state.symbol, Role.TAKE_PROFIT, side.opposite, profit, qty, state.trade_no
    )
    return state.with_order(order, Role.TAKE_PROFIT), [action]


def _row_text(row: Row) -> str:
    return " ".join(f"{k}={'' if v is None else canon(v)}" for k, v in row.items())

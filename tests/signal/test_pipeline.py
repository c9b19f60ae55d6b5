"""The pipeline on hand-worked candles: the signal on the exact candle, filters, the bracket."""

from __future__ import annotations

from decimal import Decimal

from mmtasks.domain import OrderStatus, Side
from mmtasks.grid.actions import CancelOrder, PlaceOrder
from mmtasks.signal import events as ev
from mmtasks.signal.pipeline import CandleClosed, OrderChanged, PriceSeen, step
from mmtasks.signal.state import Phase, Role, SignalState
from tests.signal.kit import candle, config, context

# Closes 10, 10, 10, 9, 12 (high/low = close +- 1).
# EMA(2), alpha 2/3, seeded with the mean of the first 2 closes:
#   c2 10; c3 2/3*10 + 1/3*10 = 10; c4 2/3*9 + 1/3*10 = 9.333; c5 2/3*12 + 1/3*9.333 = 11.111
# EMA(3), alpha 1/2, seeded with the mean of the first 3 closes:
#   c3 10; c4 .5*9 + .5*10 = 9.5; c5 .5*12 + .5*9.5 = 10.75
# c4: 9.333 < 9.5 (below, from equal at c3: no cross); c5: 11.111 > 10.75 -> crosses above at c5.
# RSI(2), Wilder: changes 0, 0, -1, +3. Seed (c3): gain 0, loss 0. c4: gain (0+0)/2 = 0,
#   loss (0+1)/2 = 0.5 -> RSI 0. c5: gain (0+3)/2 = 1.5, loss (0.5+0)/2 = 0.25, RS 6,
#   RSI 100 - 100/7 = 85.714...
# ATR(2), Wilder: TR 2, 2, 2, 2 (c4: max(2, |10-10|, |8-10|)), c5: max(2, |13-9|, |11-9|) = 4;
#   ATR c2 (2+2)/2 = 2, c3 2, c4 2, c5 (2*1 + 4)/2 = 3.
CLOSES = ["10", "10", "10", "9", "12"]


def run(cfg, closes=CLOSES, ctx=None, state=None):
    state = state or SignalState(symbol="BTCUSDT")
    ctx = ctx or context()
    history = []
    for i, close in enumerate(closes):
        state, actions, events = step(state, CandleClosed(candle(i, close)), cfg, ctx)
        history.append((actions, events))
    return state, history


def of(kind, events):
    return [e for e in events if isinstance(e, kind)]


def test_ema_cross_gives_the_long_signal_on_the_fifth_candle():
    state, history = run(config())

    generated = [i for i, (_, events) in enumerate(history) if of(ev.SignalGenerated, events)]
    assert generated == [4]
    actions, events = history[4]
    assert of(ev.SignalValidated, events) == [ev.SignalValidated("BTCUSDT", "long", 4 * 60_000)]
    # marketable entry: 12 x (1 + 0.005) = 12.06 on the 0.01 tick
    (entry,) = actions
    assert isinstance(entry, PlaceOrder)
    assert (entry.side, entry.price, entry.qty, entry.reduce_only) == (
        Side.BUY,
        Decimal("12.06"),
        Decimal(1),
        False,
    )
    assert state.phase is Phase.ENTERING
    assert state.row["atr_2"] == Decimal(3)
    assert abs(state.row["ema_2"] - Decimal("11.1111111111")) < Decimal("1e-9")
    assert state.row["ema_3"] == Decimal("10.75")


def test_rsi_filter_rejects_the_cross_with_the_reason():
    cfg = config(rules={"long": ["ema_2 crosses_above ema_3", "rsi_2 < 70"]})

    state, history = run(cfg)

    actions, events = history[4]
    assert actions == []
    (rejected,) = of(ev.SignalRejected, events)
    assert rejected.signal == "long"
    assert rejected.reason.startswith("rsi_2 < 70 is false (rsi_2 = 85.714285714")
    assert state.phase is Phase.FLAT


def fill(state, role, price, cfg, ctx=None, status=OrderStatus.FILLED):
    order = state.orders[role]
    update = OrderChanged(order.client_order_id, status, order.qty, 300_000, Decimal(price))
    return step(state, update, cfg, ctx or context())


def test_entry_fill_arms_stop_and_take_profit_from_atr():
    cfg = config()
    state, _ = run(cfg)

    state, actions, events = fill(state, Role.ENTRY, "12", cfg)

    # ATR 3 at the signal candle; long from 12: stop 12 - 1.5 x 3 = 7.5, take-profit 12 + 2 x 3 = 18
    assert (state.stop_price, state.take_profit_price) == (Decimal("7.5"), Decimal(18))
    (tp,) = actions
    assert (tp.side, tp.price, tp.qty, tp.reduce_only) == (Side.SELL, Decimal(18), Decimal(1), True)
    assert state.phase is Phase.OPEN
    assert [e.event_type for e in events] == ["TRADE_EXECUTED", "POSITION_OPENED"]


def test_take_profit_fill_closes_the_trade_with_its_pnl():
    cfg = config()
    state, _ = run(cfg)
    state, _, _ = fill(state, Role.ENTRY, "12", cfg)

    state, actions, _ = fill(state, Role.TAKE_PROFIT, "18", cfg)

    assert actions == []
    assert state.phase is Phase.FLAT
    assert state.position.qty == 0
    assert state.position.realized_pnl == Decimal(6)  # (18 - 12) x 1
    assert state.bars_since_exit == 0


def test_tick_through_the_stop_exits_and_cancels_the_take_profit():
    cfg = config()
    state, _ = run(cfg)
    state, _, _ = fill(state, Role.ENTRY, "12", cfg)
    tp_id = state.orders[Role.TAKE_PROFIT].client_order_id

    state, actions, events = step(state, PriceSeen(Decimal("7.4"), 310_000), cfg, context())

    assert of(ev.StopLossHit, events) == [
        ev.StopLossHit("BTCUSDT", Side.BUY, Decimal("7.5"), Decimal("7.4"), 310_000)
    ]
    cancel, exit_order = actions
    assert isinstance(cancel, CancelOrder) and cancel.client_order_id == tp_id
    # 7.4 x (1 - 0.005) = 7.363 -> 7.36 on the tick
    assert (exit_order.side, exit_order.price, exit_order.reduce_only) == (
        Side.SELL,
        Decimal("7.36"),
        True,
    )
    state, _, _ = fill(state, Role.STOP, "7.4", cfg)
    assert state.phase is Phase.FLAT
    assert state.position.realized_pnl == Decimal("-4.6")  # (7.4 - 12) x 1


def test_cooldown_and_fleet_state_reject_with_reasons():
    cfg = config(cooldown_bars=10)
    flat = SignalState(symbol="BTCUSDT", bars_since_exit=0)  # exited just before candle 1

    _, history = run(cfg, state=flat)
    (rejected,) = of(ev.SignalRejected, history[4][1])
    assert rejected.reason == "cooldown: 5 of 10 bars since the last exit"  # 5 candles since

    _, history = run(config(), ctx=context(fleet_state="REDUCING"))
    (rejected,) = of(ev.SignalRejected, history[4][1])
    assert rejected.reason == "fleet REDUCING: no new exposure"


def test_a_repeated_candle_changes_nothing():
    cfg = config()
    state, _ = run(cfg)

    again = step(state, CandleClosed(candle(4, "12")), cfg, context())

    assert again == (state, [], [])

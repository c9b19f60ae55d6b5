"""The pieces the live fleet adds around the pipeline: history, re-armed take-profit, kinds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mmtasks.domain import OrderStatus, Side
from mmtasks.errors import ValidationError
from mmtasks.grid.actions import PlaceOrder
from mmtasks.registry.configs import kind_of, merge, parse_strategy, parse_strategy_config
from mmtasks.signal.config import SignalConfig
from mmtasks.signal.health import StageHealth, stage_from_json, stage_to_json
from mmtasks.signal.pipeline import CandleClosed, OrderChanged, step, warm
from mmtasks.signal.state import Phase, Role, SignalState
from tests.signal.kit import candle, config, context

D = Decimal
CROSS = {
    "indicators": ["sma_2"],
    "rules": {"long": ["close crosses_above 105"]},
    "min_rows_required": 3,
    "nbr_bars": 10,
    "stop_atr": None,
    "take_profit_atr": None,
    "stop_pct": "0.05",
    "take_profit_pct": "0.1",
}


def cross() -> SignalConfig:
    return config(**CROSS)


def test_history_never_trades_even_when_its_last_candle_crosses() -> None:
    # Arrange: closes 100, 100, 110 as history: the third crosses 105.
    history = [candle(0, "100"), candle(1, "100"), candle(2, "110")]

    # Act
    state, added = warm(SignalState("ALTUSDT"), history, cross())
    _, actions, events = step(state, CandleClosed(candle(3, "110")), cross(), context())

    # Assert: three candles held, nothing placed; the next live candle does not cross (110 > 105
    # already), so no signal either.
    assert (added, len(state.candles), state.phase) == (3, 3, Phase.FLAT)
    assert actions == []
    assert not [e for e in events if e.event_type == "SIGNAL_GENERATED"]
    # A candle already held is skipped.
    assert warm(state, history, cross())[1] == 0


def test_a_live_candle_crossing_after_history_enters_once() -> None:
    # Arrange: closes 100, 100 as history.
    state, _ = warm(SignalState("ALTUSDT"), [candle(0, "100"), candle(1, "100")], cross())

    # Act: the live candle closes at 110.
    state, actions, events = step(state, CandleClosed(candle(2, "110")), cross(), context())

    # Assert: BUY 1 at 110 x 1.005 = 110.55 (slippage 0.005), entry role.
    assert [(a.side, a.price, a.qty) for a in actions if isinstance(a, PlaceOrder)] == [
        (Side.BUY, D("110.55"), D(1))
    ]
    assert [e.event_type for e in events if "SIGNAL" in e.event_type] == [
        "SIGNAL_GENERATED",
        "SIGNAL_VALIDATED",
    ]


def _open_trade() -> SignalState:
    state, _ = warm(SignalState("ALTUSDT"), [candle(0, "100"), candle(1, "100")], cross())
    state, _, _ = step(state, CandleClosed(candle(2, "110")), cross(), context())
    entry = state.orders[Role.ENTRY].client_order_id
    fill = OrderChanged(entry, OrderStatus.FILLED, D(1), 3, last_fill_price=D(110))
    state, _, _ = step(state, fill, cross(), context())
    return state


def test_a_cancelled_take_profit_is_placed_again_on_the_next_candle_once_trading() -> None:
    # Arrange: long 1 at 110: stop 104.5, take-profit 121 (110 x 1.1); the take-profit is then
    # cancelled (the symbol was paused).
    state = _open_trade()
    tp = state.orders[Role.TAKE_PROFIT]
    assert (state.stop_price, tp.price) == (D("104.5"), D(121))
    state, _, _ = step(
        state, OrderChanged(tp.client_order_id, OrderStatus.CANCELED, D(0), 4), cross(), context()
    )
    assert Role.TAKE_PROFIT not in state.orders

    # Act: a candle while paused, then one while trading (both above the stop).
    paused, none, _ = step(state, CandleClosed(candle(3, "111")), cross(), context(paused=True))
    _, again, _ = step(paused, CandleClosed(candle(4, "112")), cross(), context())

    # Assert: nothing while paused; then SELL 1 at 121, reduce-only, the same client id.
    assert none == []
    assert [(a.side, a.price, a.qty, a.reduce_only) for a in again] == [
        (Side.SELL, D(121), D(1), True)
    ]
    assert again[0].client_order_id == tp.client_order_id  # type: ignore[union-attr]


def test_a_reached_stop_while_paused_places_nothing_and_says_why() -> None:
    state = _open_trade()

    # Act: a candle whose low (104 - 1 spread) is under the stop 104.5, while paused.
    _, actions, events = step(state, CandleClosed(candle(3, "104")), cross(), context(paused=True))

    # Assert
    assert actions == []
    failed = [e for e in events if e.event_type == "TRADE_FAILED"]
    assert [(f.role, f.reason) for f in failed] == [  # type: ignore[union-attr]
        ("stop", "symbol not trading: exit of 1 not placed")
    ]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ({"interval": "1", "order_qty": "1"}, "grid"),
        ({"kind": "grid", "interval": "1", "order_qty": "1"}, "grid"),
    ],
)
def test_grid_configs_parse_with_or_without_kind(raw: dict[str, Any], kind: str) -> None:
    assert kind_of(raw) == kind
    assert parse_strategy_config(raw) == parse_strategy({"interval": "1", "order_qty": "1"})


def test_a_signal_config_parses_by_kind_and_an_unknown_kind_is_named() -> None:
    raw = {"kind": "signal", **{k: v for k, v in CROSS.items() if v is not None}, "order_qty": "1"}
    assert isinstance(parse_strategy_config(raw), SignalConfig)
    with pytest.raises(ValidationError, match="kind must be 'grid' or 'signal', received 'dca'"):
        parse_strategy_config({"kind": "dca"})
    with pytest.raises(ValidationError, match="strategy: set exactly one of stop_atr or stop_pct"):
        parse_strategy_config({**raw, "stop_atr": "2"})


def test_merge_replaces_the_config_on_a_kind_change_and_the_exclusive_key_within_one() -> None:
    grid = {"interval": "1", "order_qty": "1"}
    signal = {"kind": "signal", "stop_atr": "2", "order_qty": "1"}
    assert merge(grid, signal, "strategy") == signal
    assert merge(signal, {"stop_pct": "0.1"}, "strategy") == {
        "kind": "signal",
        "order_qty": "1",
        "stop_pct": "0.1",
    }


def test_stage_health_round_trips_through_its_json() -> None:
    stage = StageHealth("data").moved(*_starting()).ran(2_000).failed("boom", 3_000)
    assert stage_from_json("data", stage_to_json(stage)) == stage
    assert stage_from_json("data", None) == StageHealth("data")


def _starting() -> tuple[Any, int]:
    from mmtasks.signal.health import ServiceState

    return ServiceState.STARTING, 1_000

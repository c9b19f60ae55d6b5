"""Config refusals name the bad token and bound; state round-trips through its flat dict."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmtasks.domain import Side
from mmtasks.errors import ValidationError
from mmtasks.grid.models import Candle, Position
from mmtasks.signal.state import Phase, Role, SignalState, WorkingOrder
from tests.signal.kit import config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rules": {"long": ["ema_5 crosses_above ema_3"]}}, "unknown operand 'ema_5'"),
        ({"rules": {"long": ["ema_2 crosses ema_3"]}}, "unknown operator 'crosses'"),
        ({"rules": {"long": ["ema_2 >"]}}, "(3 tokens), received 2"),
        ({"rules": {"buy": ["ema_2 > ema_3"]}}, "unknown rule 'buy'"),
        ({"indicators": ["ema_2", "wma_3"]}, "unknown indicator 'wma_3'"),
        ({"min_rows_required": 3}, "min_rows_required must be >= 4 (ema_3 needs 3 candles"),
        ({"nbr_bars": 59}, "nbr_bars must be >= 20 x the longest period (ema_3) = 60"),
        ({"stop_pct": "0.01"}, "set exactly one of stop_atr or stop_pct, received both"),
        ({"stop_atr": "500"}, "stop_atr must be > 0 and <= 100, received 500"),
        ({"order_qty": 1.5}, "order_qty must be a decimal string, received float 1.5"),
        ({"atr": "atr_9"}, "atr must name a declared atr_<n> indicator"),
        ({"evaluation": "hourly"}, "evaluation must be 'on_new_candle' or 'on_tick'"),
        ({"extra": 1}, "unknown field 'extra'"),
    ],
)
def test_bad_configs_are_refused_with_what_is_wrong(change, message):
    with pytest.raises(ValidationError, match=None) as err:
        config(**change)
    assert message in str(err.value)


def test_regime_rule_on_a_crossing_adds_a_row_and_regime_words_are_checked():
    with pytest.raises(ValidationError) as err:
        config(rules={"long": ["regime == sideways", "ema_2 > ema_3"]})
    assert "unknown operand 'sideways'" in str(err.value)


decimals = st.decimals(min_value="0.01", max_value="100000", places=2).map(Decimal)
candles = st.builds(
    Candle,
    open_ms=st.integers(0, 2**40),
    open=decimals,
    high=decimals,
    low=decimals,
    close=decimals,
    volume=decimals,
    closed=st.just(True),
)
orders = st.builds(
    WorkingOrder,
    role=st.sampled_from(list(Role)),
    side=st.sampled_from(list(Side)),
    price=decimals,
    qty=decimals,
    client_order_id=st.text("abc123", min_size=1, max_size=32),
    filled_qty=decimals,
    venue_order_id=st.none() | st.text("xyz9", min_size=1, max_size=8),
    cancel_sent=st.booleans(),
)
row = st.dictionaries(st.sampled_from(["ema_9", "rsi_14", "bb_20_2.upper"]), st.none() | decimals)
states = st.builds(
    SignalState,
    symbol=st.just("BTCUSDT"),
    candles=st.lists(candles, max_size=5).map(tuple),
    row=row,
    prev_row=st.none() | row,
    regime=st.sampled_from(["trend_up", "trend_down", "range"]),
    phase=st.sampled_from(list(Phase)),
    side=st.none() | st.sampled_from(list(Side)),
    orders=st.lists(orders, max_size=3).map(lambda os: {o.role: o for o in os}),
    stop_price=st.none() | decimals,
    take_profit_price=st.none() | decimals,
    trade_no=st.integers(0, 10**6),
    bars_since_exit=st.none() | st.integers(0, 10**6),
    last_price=st.none() | decimals,
    position=st.builds(Position, qty=decimals, avg_cost=decimals, realized_pnl=decimals),
)


@given(states)
def test_state_round_trips_through_its_flat_dict(state):
    data = state.to_dict()

    assert all(isinstance(v, str) for v in data.values())
    assert SignalState.from_dict(data) == state

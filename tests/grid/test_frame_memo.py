"""frame() gives its last frame again only for the very inputs it was derived from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal as D

import pytest

from mmtasks.grid.config import GridConfig, SymbolRules, parse_grid_config, parse_risk_config
from mmtasks.grid.frame import _derive, frame
from mmtasks.grid.models import Candle, GridState, Market, Position

RULES = SymbolRules(D("0.01"), D("0.00001"), D("0.00001"), D(5))
CONFIG = parse_grid_config({"mode": "neutral", "interval": "10", "order_qty": "0.01"})
SKEWED = parse_grid_config(
    {"mode": "neutral", "interval": "10", "order_qty": "0.01", "inventory_skew": "0.001"}
)
RISK = parse_risk_config({"average_window": 3})
NOW_MS = 60_000


def _candles(last_volume: str) -> tuple[Candle, ...]:
    calm = [Candle(k * 60_000, D(100), D(101), D(99), D(100), D(1), True) for k in range(4)]
    return (*calm, Candle(4 * 60_000, D(100), D(101), D(90), D(95), D(last_volume), True))


STATE = GridState(symbol="BTCUSDT", anchor=D(100), position=Position(qty=D("0.5")))
MARKET = Market(D("100.50"), NOW_MS, _candles("1"))

# Each case changes one input of a frame; the frame must then be the one derived afresh.
Case = Callable[[GridState, Market], tuple[GridState, Market, GridConfig, int]]
CASES: dict[str, Case] = {
    "same inputs": lambda s, m: (s, m, SKEWED, NOW_MS),
    "an equal market, another object": lambda s, m: (s, replace(m), SKEWED, NOW_MS),
    "another price": lambda s, m: (s, replace(m, price=D("99.10")), SKEWED, NOW_MS),
    "later (stale)": lambda s, m: (s, m, SKEWED, NOW_MS + 10**9),
    "a fill moved the position": lambda s, m: (
        replace(s, position=Position(qty=D("0.51"))),
        m,
        SKEWED,
        NOW_MS,
    ),
    "reduce-only switched on": lambda s, m: (replace(s, reduce_only=True), m, SKEWED, NOW_MS),
    "another anchor": lambda s, m: (replace(s, anchor=D("100.5")), m, SKEWED, NOW_MS),
    "another config": lambda s, m: (s, m, CONFIG, NOW_MS),
    "a spiking candle": lambda s, m: (s, replace(m, candles=_candles("50")), SKEWED, NOW_MS),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_frame_equals_the_one_derived_afresh(name: str) -> None:
    # Arrange: the memo holds the frame of STATE on MARKET.
    frame(STATE, MARKET, SKEWED, RISK, RULES, NOW_MS)
    state, market, config, now_ms = CASES[name](STATE, MARKET)

    # Act
    got = frame(state, market, config, RISK, RULES, now_ms)

    # Assert
    assert got == _derive(state, market, config, RISK, RULES, now_ms)


def test_the_same_inputs_give_the_same_frame_object() -> None:
    # Arrange
    first = frame(STATE, MARKET, SKEWED, RISK, RULES, NOW_MS)

    # Act: a state that only placed an order (same anchor, position and switch objects).
    again = frame(replace(STATE, generation_floor=1), MARKET, SKEWED, RISK, RULES, NOW_MS)

    # Assert
    assert again is first

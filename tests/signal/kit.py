"""Builders shared by the signal tests: configs, candles, a context."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mmtasks.grid.config import SymbolRules
from mmtasks.grid.models import Candle
from mmtasks.signal.config import SignalConfig, parse_signal_config
from mmtasks.signal.validate import Context

RULES = SymbolRules(Decimal("0.01"), Decimal("0.001"), Decimal(0), Decimal(0))
MINUTE = 60_000


# The small hand-worked config: EMA(2) over EMA(3), RSI(2) filter, ATR(2) bracket.
RAW: dict[str, Any] = {
    "indicators": ["ema_2", "ema_3", "rsi_2", "atr_2"],
    "rules": {
        "long": ["ema_2 crosses_above ema_3", "rsi_2 < 90"],
        "exit_long": ["ema_2 crosses_below ema_3"],
    },
    "min_rows_required": 4,
    "nbr_bars": 60,
    "order_qty": "1",
    "stop_atr": "1.5",
    "take_profit_atr": "2",
    "atr": "atr_2",
}


def config(**over: Any) -> SignalConfig:
    """Return RAW (with over applied) as a validated SignalConfig."""
    return parse_signal_config(RAW | over)


def candle(i: int, close: str, spread: str = "1") -> Candle:
    """Return closed candle i (open = close, high/low = close +- spread)."""
    c, s = Decimal(close), Decimal(spread)
    return Candle(i * MINUTE, c, c + s, c - s, c, Decimal(1), True)


def context(**over: Any) -> Context:
    """Return an ACTIVE context on RULES."""
    return Context(rules=RULES, **over)

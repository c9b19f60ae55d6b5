"""How a symbol's state is spelt in Redis: its lifecycle status and the JSON of its configs.

One codec for everyone who reads or writes a symbol's keys (the worker's snapshot, the
registry, status, beat, the web): `SymbolStatus`, the symbol rules, candles and the stored
strategy (grid or signal, by its `kind`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from enum import StrEnum

from mmtasks.decimals import canon
from mmtasks.grid.models import Candle
from mmtasks.kinds import StrategyConfig, kind_of_raw


class SymbolStatus(StrEnum):
    """Lifecycle states of a symbol (strings in the state hash).

    DEGRADED is not stored here: it is a condition of an ACTIVE symbol (`degraded_since_ms`
    set) that `status` shows in its place while a temporary fault lasts.
    """

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    ERROR = "ERROR"
    REMOVED = "REMOVED"
    UNCONFIGURED = "UNCONFIGURED"


# A failure never moves these to ERROR: one is there already; a removed one backs off and tries
# again until its orders are cancelled (in ERROR, beat's recovery would make it trade again).
KEPT_ON_FAILURE = frozenset({SymbolStatus.ERROR, SymbolStatus.REMOVED})


def candle_from_json(text: str) -> Candle:
    d = json.loads(text)
    return Candle(
        open_ms=int(d["open_ms"]),
        open=Decimal(d["open"]),
        high=Decimal(d["high"]),
        low=Decimal(d["low"]),
        close=Decimal(d["close"]),
        volume=Decimal(d["volume"]),
        closed=bool(d["closed"]),
    )


def candle_to_json(c: Candle) -> str:
    return json.dumps(
        {
            "open_ms": c.open_ms,
            "open": canon(c.open),
            "high": canon(c.high),
            "low": canon(c.low),
            "close": canon(c.close),
            "volume": canon(c.volume),
            "closed": c.closed,
        },
        separators=(",", ":"),
    )


def strategy_from_json(text: str) -> StrategyConfig:
    """Return a stored strategy config as the config of its kind (mmtasks/kinds)."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"a stored strategy must be an object, found {text[:80]!r}")
    return kind_of_raw(data).load(data)

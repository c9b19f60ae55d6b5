"""Builders for replay tests: configs and series from short literal paths."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mmtasks.grid.band import FillMode
from mmtasks.grid.config import SymbolRules, parse_grid_config, parse_risk_config
from mmtasks.replay import series
from mmtasks.replay.engine import Config
from mmtasks.replay.matcher import Fees
from mmtasks.replay.series import Series
from mmtasks.replay.session import Outcome, replay

D = Decimal
RULES = SymbolRules(D("0.01"), D("0.001"), D(0), D(0))
NO_FEES = Fees(D(0), D(0))


def config(
    mode: str = "long",
    fill: FillMode = "strict",
    fees: Fees = NO_FEES,
    risk: dict[str, Any] | None = None,
    **strategy: Any,
) -> Config:
    raw = {"mode": mode, "interval": "10", "buy_levels": 2, "sell_levels": 2, "order_qty": "1"}
    return Config(
        "GRIDUSDT",
        parse_grid_config({**raw, **strategy}),
        parse_risk_config(risk or {}),
        RULES,
        fees,
        fill,
    )


def tick_path(*prices: object) -> Series:
    return series.ticks([k * 1000 for k in range(len(prices))], [str(p) for p in prices])


def candle_path(*rows: tuple[object, object, object, object]) -> Series:
    cols = [[str(r[k]) for r in rows] for k in range(4)]
    return series.candles([k * 60_000 for k in range(len(rows))], *cols, ["1"] * len(rows))


def fills(out: Outcome) -> list[tuple[str, Decimal]]:
    return [(f.side.value, f.price) for f in out.engine.fills]


def resting(out: Outcome) -> list[tuple[str, Decimal]]:
    return sorted((o.side.value, o.price) for o in out.engine.venue.book.values())


def run(cfg: Config, data: Series, **kw: Any) -> Outcome:
    return replay(cfg, data, **kw)

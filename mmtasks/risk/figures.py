"""Fleet figures from the symbols' positions: exposure, equity, drawdown, the day's loss, latency.

Pure: the engine reads Redis and Postgres and hands the values in; everything here is Decimal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mmtasks.decimals import ZERO, canon
from mmtasks.grid.models import Position
from mmtasks.risk.breaker import symbol_equity

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class SymbolBook:
    """What the risk engine needs of one symbol: its position and the last price (the mark)."""

    symbol: str
    position: Position = field(default_factory=Position)
    mark: Decimal | None = None

    @property
    def exposure(self) -> Decimal:
        """Return |qty| x mark (the average cost stands in before the first price)."""
        mark = self.mark if self.mark is not None else self.position.avg_cost
        return abs(self.position.qty) * mark

    @property
    def equity(self) -> Decimal:
        """Return realized - fees + unrealized (nothing unrealized before the first price)."""
        return symbol_equity(self.position, self.mark)


@dataclass(frozen=True)
class Peaks:
    """What persists between risk runs: the equity high-water mark and the UTC day's start."""

    high_water: Decimal | None = None
    day: str = ""  # UTC date, YYYY-MM-DD
    day_start_equity: Decimal | None = None


@dataclass(frozen=True)
class FleetFigures:
    """The figures the fleet state is decided on."""

    exposure: Decimal
    top_symbol: str
    top_symbol_exposure: Decimal
    equity: Decimal
    high_water: Decimal
    drawdown_quote: Decimal
    drawdown_pct: Decimal | None
    day: str
    day_start_equity: Decimal
    day_loss: Decimal
    latency_p95_ms: int | None
    latency_samples: int
    symbols: int

    def to_json(self) -> dict[str, Any]:
        """Return the figures as JSON-ready strings."""
        out: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            out[name] = canon(value) if isinstance(value, Decimal) else value
        return out

    @property
    def peaks(self) -> Peaks:
        """Return what must persist for the next run."""
        return Peaks(self.high_water, self.day, self.day_start_equity)


def p95(samples_ms: Sequence[int]) -> int | None:
    """Return the 95th percentile (nearest rank) of samples_ms, or None without samples."""
    if not samples_ms:
        return None
    ordered = sorted(samples_ms)
    rank = math.ceil(0.95 * len(ordered))
    return ordered[rank - 1]


def compute_figures(
    books: Sequence[SymbolBook],
    peaks: Peaks,
    today: str,
    latency_ms: Sequence[int],
    capital_quote: Decimal | None = None,
) -> FleetFigures:
    """Return the fleet's figures; the high-water mark only rises, the day rolls at UTC midnight."""
    exposure = sum((b.exposure for b in books), ZERO)
    top = max(books, key=lambda b: (b.exposure, b.symbol), default=None)
    equity = sum((b.equity for b in books), ZERO)
    high_water = equity if peaks.high_water is None else max(peaks.high_water, equity)
    drawdown = high_water - equity
    pct = None
    if capital_quote is not None and capital_quote + high_water > 0:
        pct = drawdown / (capital_quote + high_water) * HUNDRED
    day_start = peaks.day_start_equity
    if peaks.day != today or day_start is None:
        day_start = equity
    return FleetFigures(
        exposure=exposure,
        top_symbol=top.symbol if top is not None else "",
        top_symbol_exposure=top.exposure if top is not None else ZERO,
        equity=equity,
        high_water=high_water,
        drawdown_quote=drawdown,
        drawdown_pct=pct,
        day=today,
        day_start_equity=day_start,
        day_loss=day_start - equity,
        latency_p95_ms=p95(latency_ms),
        latency_samples=len(latency_ms),
        symbols=len(books),
    )

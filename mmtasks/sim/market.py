"""Market data of the simulated exchange: the last price and the candles of every symbol.

Not locked on its own: the engine calls it with its lock held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from mmtasks.errors import ValidationError
from mmtasks.sim.klines import KlineSeries, interval_ms
from mmtasks.sim.models import SimSymbolRules
from mmtasks.venue.types import Kline, PriceTick

ZERO = Decimal(0)


class MarketData:
    """Last price tick and candle series per symbol; publishes ticks and candles to listeners."""

    def __init__(
        self, rules: dict[str, SimSymbolRules], intervals: Iterable[str], now_ms: int
    ) -> None:
        self.intervals = tuple(intervals)
        for interval in self.intervals:
            interval_ms(interval)
        # seq 0 is the start price: it is known before the feed says anything.
        self.last = {s: PriceTick(s, r.start_price, now_ms, 0, ZERO) for s, r in rules.items()}
        self._series = {s: {i: KlineSeries(s, i) for i in self.intervals} for s in rules}
        self.price_listeners: list[Callable[[Any], None]] = []
        self.kline_listeners: list[Callable[[Any], None]] = []

    def trade(self, symbol: str, price: Decimal, volume: Decimal, now_ms: int) -> PriceTick:
        """Record a trade at price: new last tick, updated candles, both published."""
        tick = PriceTick(symbol, price, now_ms, self.last[symbol].seq + 1, volume)
        self.last[symbol] = tick
        for listener in self.price_listeners:
            listener(tick)
        for series in self._series[symbol].values():
            self._publish(series, series.on_price(price, volume, now_ms))
        return tick

    def close_due(self, now_ms: int) -> list[Kline]:
        """Close every candle whose interval is over; return the closed ones."""
        closed: list[Kline] = []
        for by_interval in self._series.values():
            for series in by_interval.values():
                done = series.close_due(now_ms)
                if done:
                    self._publish(series, done)
                    closed.extend(done)
        return closed

    def series(self, symbol: str, interval: str) -> KlineSeries:
        """Return the candle series of a symbol and interval or raise ValidationError."""
        interval_ms(interval)  # a clear error for a name that is no interval at all
        series = self._series[symbol].get(interval)
        if series is None:
            raise ValidationError(
                f"interval must be one of {', '.join(self.intervals)}, received {interval!r}"
            )
        return series

    def _publish(self, series: KlineSeries, closed: list[Kline]) -> None:
        # Building the forming snapshot costs; skip it when nobody streams candles.
        if not self.kline_listeners:
            return
        forming = series.forming()
        for kline in [*closed, *([forming] if forming else [])]:
            for listener in self.kline_listeners:
                listener(kline)

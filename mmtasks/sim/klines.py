"""Candles aggregated from the price feed, one series per symbol and interval."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from mmtasks.errors import ValidationError
from mmtasks.venue.types import Kline

ZERO = Decimal(0)

INTERVAL_MS: dict[str, int] = {
    "1s": 1_000,
    "5s": 5_000,
    "15s": 15_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}


def interval_ms(interval: str) -> int:
    """Return the length of an interval in ms or raise ValidationError naming the known ones."""
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        raise ValidationError(
            f"interval must be one of {', '.join(INTERVAL_MS)}, received {interval!r}"
        ) from None


@dataclass(slots=True)
class _Candle:
    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    traded: bool = True  # False for a candle carried over at the previous close


class KlineSeries:
    """The forming candle and the newest closed ones of one symbol and interval.

    Every interval gets a candle once the first price is seen: an interval without ticks is a
    flat candle at the previous close with zero volume, as exchanges publish it.
    """

    def __init__(self, symbol: str, interval: str, max_closed: int = 1000) -> None:
        self.symbol = symbol
        self.interval = interval
        self.length_ms = interval_ms(interval)
        self._forming: _Candle | None = None
        self._closed: deque[Kline] = deque(maxlen=max_closed)

    def on_price(self, price: Decimal, volume: Decimal, ts_ms: int) -> list[Kline]:
        """Add a trade price and return the candles it closed (oldest first)."""
        closed = self.close_due(ts_ms)
        candle = self._forming
        if candle is None:
            self._forming = _Candle(self._window(ts_ms), price, price, price, price, volume)
            return closed
        if not candle.traded:
            # The first trade of an interval opens its candle, as on an exchange.
            candle.open = candle.high = candle.low = price
            candle.traded = True
        candle.high = max(candle.high, price)
        candle.low = min(candle.low, price)
        candle.close = price
        candle.volume += volume
        return closed

    def close_due(self, now_ms: int) -> list[Kline]:
        """Close the forming candle if its interval is over; return the closed ones."""
        candle = self._forming
        if candle is None or now_ms < candle.open_ms + self.length_ms:
            return []
        closed = [self._kline(candle, closed=True)]
        current = self._window(now_ms)
        # Flat candles for the silent intervals, at most what we keep anyway.
        first_gap = max(candle.open_ms + self.length_ms, current - self.length_ms * self._keep())
        for open_ms in range(first_gap, current, self.length_ms):
            c = candle.close
            closed.append(self._kline(_Candle(open_ms, c, c, c, c, ZERO, False), closed=True))
        self._closed.extend(closed)
        c = candle.close
        self._forming = _Candle(current, c, c, c, c, ZERO, False)
        return closed

    def forming(self) -> Kline | None:
        """Return the candle still forming, if any price was seen."""
        return self._kline(self._forming, closed=False) if self._forming else None

    def history(self, limit: int, end_ms: int | None = None) -> list[Kline]:
        """Return the newest `limit` closed candles ending at or before end_ms, oldest first."""
        items = [k for k in self._closed if end_ms is None or k.close_ms <= end_ms]
        return items[-limit:] if limit > 0 else []

    def _keep(self) -> int:
        return self._closed.maxlen or 1000

    def _window(self, ts_ms: int) -> int:
        return ts_ms - ts_ms % self.length_ms

    def _kline(self, candle: _Candle, *, closed: bool) -> Kline:
        return Kline(
            symbol=self.symbol,
            interval=self.interval,
            close_ms=candle.open_ms + self.length_ms - 1,
            closed=closed,
            **{name: getattr(candle, name) for name in _PRICED},
        )


# A candle's open time, prices and volume, as a Kline names them.
_PRICED = ("open_ms", "open", "high", "low", "close", "volume")

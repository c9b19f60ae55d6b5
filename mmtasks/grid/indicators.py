"""Candle indicators: ATR for the dynamic interval and the volume-spike monitor."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Generic, TypeVar

from mmtasks.grid.models import Candle

T = TypeVar("T")


def history_window(candles: Sequence[Candle], average_window: int) -> tuple[Candle, ...] | None:
    """Return the `average_window` closed candles before the newest one, or None if too few."""
    if not candles or average_window < 1:
        return None
    # The newest candle (closed or forming) is the one being judged; the history is what came
    # strictly before it, so a spike never dilutes its own average.
    closed = [c for c in candles[:-1] if c.closed]
    if len(closed) < average_window:
        return None
    return tuple(closed[-average_window:])


class _LastCall(Generic[T]):
    """Remembers the result of the last call on one candles tuple.

    A step decides several times on the same candles (until a decision changes nothing) and
    the replay does so on every visited point. A tuple of frozen candles cannot change, so the
    same tuple object (held here, so its id is not reused) with the same parameters gives the
    same result. Other sequences are always computed.
    """

    def __init__(self) -> None:
        # Key and value in one tuple, replaced in one assignment: a reader never pairs the key
        # of one call with the value of another, even with threads.
        self._last: tuple[tuple[object, ...], T] | None = None

    def get(self, candles: Sequence[Candle], *params: object) -> T | None:
        last = self._last
        if last is not None and last[0][0] is candles and last[0][1:] == params:
            return last[1]
        return None

    def put(self, candles: Sequence[Candle], params: tuple[object, ...], value: T) -> T:
        if isinstance(candles, tuple):
            self._last = ((candles, *params), value)
        return value


_last_spike: _LastCall[bool] = _LastCall()
_last_atr: _LastCall[Decimal | None] = _LastCall()


def volume_spike(candles: Sequence[Candle], average_window: int, multiplier: Decimal) -> bool:
    """Return True while the newest candle's volume spikes and it closes under the average."""
    known = _last_spike.get(candles, average_window, multiplier)
    if known is not None:
        return known
    spike = _volume_spike(candles, average_window, multiplier)
    return _last_spike.put(candles, (average_window, multiplier), spike)


def _volume_spike(candles: Sequence[Candle], average_window: int, multiplier: Decimal) -> bool:
    history = history_window(candles, average_window)
    if history is None:
        return False
    count = Decimal(len(history))
    # Both sums in one pass, each from Decimal(0) in the candles' order: sum()'s additions.
    volume = close = Decimal(0)
    for candle in history:
        volume += candle.volume
        close += candle.close
    avg_volume, avg_close = volume / count, close / count
    newest = candles[-1]
    return newest.volume > avg_volume * multiplier and newest.close < avg_close


def true_range(candle: Candle, prev_close: Decimal | None) -> Decimal:
    """Return the candle's true range (high-low widened to the previous close when known)."""
    spread = candle.high - candle.low
    if prev_close is None:
        return spread
    return max(spread, abs(candle.high - prev_close), abs(candle.low - prev_close))


def atr(candles: Sequence[Candle], average_window: int) -> Decimal | None:
    """Return the mean true range over the history window, or None without enough candles."""
    known = _last_atr.get(candles, average_window)
    if known is not None:
        return known
    return _last_atr.put(candles, (average_window,), _atr(candles, average_window))


def _atr(candles: Sequence[Candle], average_window: int) -> Decimal | None:
    history = history_window(candles, average_window)
    if history is None:
        return None
    closed = [c for c in candles[:-1] if c.closed]
    # The candle just before the window, if kept, gives the first true range its previous close.
    before = closed[-average_window - 1] if len(closed) > average_window else None
    prev_close = before.close if before is not None else None
    total = Decimal(0)
    for candle in history:
        total += true_range(candle, prev_close)
        prev_close = candle.close
    return total / Decimal(len(history))

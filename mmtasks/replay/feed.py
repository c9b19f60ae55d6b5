"""The candles the core sees at each point of the path (volume monitor and ATR read them).

Candle input: within candle j the core sees the closed candles before j; at j's close point j
itself is appended as closed (no look-ahead: a candle's volume is known once it is over).
Tick input: ticks are gathered into `kline_interval` candles; the newest one is forming (closed
False) and holds the ticks so far, as the connector's kline stream reports it live.
Only the candles the core reads are kept: the newest `average_window + 2` (the worker keeps
`average_window + 5`; no decision reads the 3 more).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from mmtasks.errors import ValidationError
from mmtasks.grid.models import Candle
from mmtasks.replay.series import Series

# The candles the core reads (grid/indicators.py): the newest, the `average_window` closed ones
# before it, and one more for ATR's first previous close. The worker keeps 5 more than the
# window (trading/advance.CANDLES_KEPT_EXTRA), which no decision reads: a visit far from the
# last builds its whole window, so replay builds only these.
KEPT_EXTRA = 2
UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def interval_ms(text: str) -> int:
    """Return a kline interval like '1m' or '4h' in ms."""
    match = re.fullmatch(r"([1-9][0-9]*)([smhdw])", text)
    if match is None:
        raise ValidationError(f"kline_interval must look like '1m' or '4h', received {text!r}")
    return int(match.group(1)) * UNIT_MS[match.group(2)]


class CandleFeed:
    """Market candles for any row of a series, built lazily from its text."""

    def __init__(self, data: Series, keep: int, kline_ms: int) -> None:
        self.data, self.keep, self.kline_ms = data, keep, kline_ms
        self._cache: dict[int, Candle] = {}  # closed tick candles, by -(bucket + 1)
        self._last_stop = -1
        self._last: tuple[Candle, ...] = ()
        self._open_ms: list[int] = []  # the row times as ints, when first needed (candles)
        if data.kind == "ticks":
            bucket = data.ts_ms // kline_ms
            self.bucket = bucket
            starts = np.flatnonzero(np.diff(bucket)) + 1
            self.starts = np.concatenate(([0], starts)).astype(np.int64)
            # A volume's float is 0 only if its text is (or is too small for a float): the
            # texts are read only when every float is 0.
            volume = data.floats("volume")
            self.has_volume = bool(np.any(volume != 0)) or any(
                v not in ("0", "") for v in data.volume_text
            )

    def at(self, index: int, closed_through: bool) -> tuple[Candle, ...]:
        """Return the candles seen at row index (candles: with row index itself if closed)."""
        if self.data.kind == "candles":
            stop = index + 1 if closed_through else index
            if stop != self._last_stop:  # the points of one row share their candles
                self._last = self._window(stop)
                self._last_stop = stop
            return self._last
        return self._tick_candles(index)

    def _window(self, stop: int) -> tuple[Candle, ...]:
        # The candles of rows [stop - keep, stop). Visits go forward, so a row two windows
        # share is in the last one (the next row: all but one); every other row is new, its
        # candle built once (a visit far from the last builds the whole window).
        first = max(0, stop - self.keep)
        last, last_stop = self._last, self._last_stop
        if first < last_stop <= stop:
            kept = last[len(last) - (last_stop - first) :]
            return (*kept, *self._candles(last_stop, stop))
        return tuple(self._candles(first, stop))

    def _candles(self, first: int, stop: int) -> list[Candle]:
        if not self._open_ms:
            self._open_ms = self.data.ts_ms.tolist()  # not a numpy scalar per candle
        open_ms, texts = self._open_ms, self.data.texts
        out: list[Candle] = []
        for j in range(first, stop):
            t = texts(j)
            out.append(RowCandle(open_ms[j], t, Decimal(t[3]), Decimal(t[4])))
        return out

    def _tick_candles(self, index: int) -> tuple[Candle, ...]:
        b = int(np.searchsorted(self.starts, index, side="right")) - 1
        first = max(0, b - self.keep + 1)
        out = []
        for k in range(first, b + 1):
            start = int(self.starts[k])
            stop = index + 1 if k == b else int(self.starts[k + 1])
            out.append(self._bucket(k, start, stop, closed=k < b))
        return tuple(out)

    def _bucket(self, k: int, start: int, stop: int, *, closed: bool) -> Candle:
        if closed and -k - 1 in self._cache:
            return self._cache[-k - 1]
        d = self.data
        prices = d.floats("close")[start:stop]
        hi = start + int(np.argmax(prices))
        lo = start + int(np.argmin(prices))
        volume = Decimal(0)
        if self.has_volume:
            volume = sum((Decimal(v) for v in d.volume_text[start:stop]), Decimal(0))
        candle = Candle(
            open_ms=int(self.bucket[start]) * self.kline_ms,
            open=d.dec("close", start),
            high=d.dec("close", hi),
            low=d.dec("close", lo),
            close=d.dec("close", stop - 1),
            volume=volume,
            closed=closed,
        )
        if closed:
            self._cache[-k - 1] = candle
        return candle


class RowCandle(Candle):
    """A closed candle of a series whose open, high and low are parsed from the row's text when
    first read: the volume monitor reads only close and volume, and a visit far from the last
    one builds ~20 candles (parsing a Decimal costs ~0.3 us, three fifths of a candle's cost).
    It is a Candle in every other way: the same values, equal to the Candle of those values.
    """

    def __init__(self, open_ms: int, texts: Sequence[str], close: Decimal, volume: Decimal) -> None:
        # Candle is frozen: the fields go into the instance dict as its own __init__ puts them.
        d = self.__dict__
        d["open_ms"], d["close"], d["volume"], d["closed"] = open_ms, close, volume, True
        d["_texts"] = texts

    def _parsed(self, name: str, k: int) -> Decimal:
        d = self.__dict__
        value: Decimal | None = d.get(name)
        if value is None:
            value = d[name] = Decimal(d["_texts"][k])
        return value

    @property
    def open(self) -> Decimal:
        """The open, parsed when first read."""
        return self._parsed("_open", 0)

    @property
    def high(self) -> Decimal:
        """The high, parsed when first read."""
        return self._parsed("_high", 1)

    @property
    def low(self) -> Decimal:
        """The low, parsed when first read."""
        return self._parsed("_low", 2)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Candle):
            return NotImplemented
        return _values(self) == _values(other)

    def __hash__(self) -> int:
        return hash(_values(self))


def _values(c: Candle) -> tuple[object, ...]:
    return (c.open_ms, c.open, c.high, c.low, c.close, c.volume, c.closed)

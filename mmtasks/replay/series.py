"""Price data as columns: float arrays to search quickly, the original text to compute exactly.

Floats are only ever used to find candidate candles; every price the core sees is a Decimal
parsed from the text of the input file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt

Kind = Literal["ticks", "candles"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class Series:
    """One symbol's prices: ticks (open = high = low = close) or candles, oldest first."""

    kind: Kind
    ts_ms: IntArray
    open_text: list[str]
    high_text: list[str]
    low_text: list[str]
    close_text: list[str]
    volume_text: list[str]
    skipped: int = 0  # bad rows dropped with --skip-bad
    _floats: dict[str, FloatArray] = field(default_factory=dict, repr=False)
    _decimals: dict[str, dict[int, Decimal]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.close_text)

    def floats(self, column: str) -> FloatArray:
        """Return a column as float64 (cached): for searching only, never for money."""
        cached = self._floats.get(column)
        if cached is None:
            cached = np.array(self._text(column), dtype=np.float64)
            self._floats[column] = cached
        return cached

    def _text(self, column: str) -> list[str]:
        texts: list[str] = getattr(self, f"{column}_text")
        return texts

    def dec(self, column: str, index: int) -> Decimal:
        """Return one cell as the exact Decimal of its text."""
        cells = self._decimals.get(column)
        if cells is None:
            cells = self._decimals[column] = {}
        value = cells.get(index)
        if value is None:
            if len(cells) > 100_000:
                cells.clear()
            value = cells[index] = Decimal(self._text(column)[index])
        return value

    def slice(self, start: int, stop: int) -> Series:
        """Return rows [start, stop) as a new series."""
        return Series(
            kind=self.kind,
            ts_ms=self.ts_ms[start:stop],
            open_text=self.open_text[start:stop],
            high_text=self.high_text[start:stop],
            low_text=self.low_text[start:stop],
            close_text=self.close_text[start:stop],
            volume_text=self.volume_text[start:stop],
        )


def ticks(ts_ms: list[int], prices: list[str], volumes: list[str] | None = None) -> Series:
    """Return a tick series: every tick is a point of the path."""
    return Series(
        kind="ticks",
        ts_ms=np.array(ts_ms, dtype=np.int64),
        open_text=prices,
        high_text=prices,
        low_text=prices,
        close_text=prices,
        volume_text=volumes if volumes is not None else ["0"] * len(prices),
    )


def candles(
    ts_ms: list[int],
    opens: list[str],
    highs: list[str],
    lows: list[str],
    closes: list[str],
    volumes: list[str],
) -> Series:
    """Return a candle series (open time in ms)."""
    return Series(
        kind="candles",
        ts_ms=np.array(ts_ms, dtype=np.int64),
        open_text=opens,
        high_text=highs,
        low_text=lows,
        close_text=closes,
        volume_text=volumes,
    )

"""Price data as columns: float arrays to search quickly, the original text to compute exactly.

Floats are only ever used to find candidate candles; every price the core sees is a Decimal
parsed from the text of the input file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, overload

import numpy as np
import numpy.typing as npt

Kind = Literal["ticks", "candles"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Lines:
    """A plain CSV's lines; the row read last is kept split (a row's cells are read together)."""

    __slots__ = ("_at", "_cells", "text")

    def __init__(self, text: list[str]) -> None:
        self.text = text
        self._at: int | None = None
        self._cells: list[str] = []

    def cells(self, j: int) -> list[str]:
        """Return row j's cells."""
        if j != self._at:
            self._cells = self.text[j].split(",")
            self._at = j
        return self._cells


class TextColumn(Sequence[str]):
    """Column k of a plain CSV's lines, each cell split out only when read.

    A replay reads the text of the few rows it visits (the fast path finds them in the float
    columns); splitting every row of a year up front cost more than the replay itself.
    """

    __slots__ = ("_k", "_lines")

    def __init__(self, lines: Lines, k: int) -> None:
        self._lines, self._k = lines, k

    def __len__(self) -> int:
        return len(self._lines.text)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            k = self._k
            return [line.split(",", k + 1)[k] for line in self._lines.text[index]]
        return self._lines.cells(index)[self._k]

    def __iter__(self) -> Iterator[str]:
        k = self._k
        return (line.split(",", k + 1)[k] for line in self._lines.text)

    def __eq__(self, other: object) -> bool:
        # Equal to any sequence of the same texts (a list from the row-by-row reader).
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable-equal, as a list


@dataclass
class Series:
    """One symbol's prices: ticks (open = high = low = close) or candles, oldest first."""

    kind: Kind
    ts_ms: IntArray
    open_text: Sequence[str]
    high_text: Sequence[str]
    low_text: Sequence[str]
    close_text: Sequence[str]
    volume_text: Sequence[str]
    skipped: int = 0  # bad rows dropped with --skip-bad
    _floats: dict[str, FloatArray] = field(default_factory=dict, repr=False)
    _decimals: dict[str, dict[int, Decimal]] = field(default_factory=dict, repr=False)
    # A candle file read in bulk: its lines, so a row's five texts come from one split.
    _lines: Lines | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.close_text)

    def texts(self, j: int) -> Sequence[str]:
        """Return row j's open, high, low, close and volume texts."""
        if self._lines is not None:
            return self._lines.cells(j)[1:6]
        return (
            self.open_text[j],
            self.high_text[j],
            self.low_text[j],
            self.close_text[j],
            self.volume_text[j],
        )

    def floats(self, column: str) -> FloatArray:
        """Return a column as float64 (cached): for searching only, never for money."""
        cached = self._floats.get(column)
        if cached is None:
            cached = np.array(self._text(column), dtype=np.float64)
            self._floats[column] = cached
        return cached

    def _text(self, column: str) -> Sequence[str]:
        texts: Sequence[str] = getattr(self, f"{column}_text")
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
    volume_text = volumes if volumes is not None else ["0"] * len(prices)
    ts = np.array(ts_ms, dtype=np.int64)
    return Series("ticks", ts, prices, prices, prices, prices, volume_text)


def candles(
    ts_ms: list[int],
    opens: list[str],
    highs: list[str],
    lows: list[str],
    closes: list[str],
    volumes: list[str],
) -> Series:
    """Return a candle series (open time in ms)."""
    ts = np.array(ts_ms, dtype=np.int64)
    return Series("candles", ts, opens, highs, lows, closes, volumes)

"""Read price files: `ts,price` ticks, Binance kline CSV, Freqtrade JSON candles.

Every row is checked (numbers, positive prices, low <= open/close <= high, time going forward).
A bad row stops the run with its row number and what is wrong, or with `skip_bad` is dropped
and counted. Prices stay the text of the file; they become Decimals, never floats, for money.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from mmtasks.errors import ValidationError
from mmtasks.replay import series
from mmtasks.replay.bulk import read_plain
from mmtasks.replay.series import Series

Format = Literal["auto", "ticks", "binance", "freqtrade"]
FORMATS: tuple[str, ...] = ("auto", "ticks", "binance", "freqtrade")
HEAD_CHARS = 65_536  # where detect_format looks first
MICROSECONDS_AFTER = 10**14  # Binance spot files from 2025 carry open times in microseconds


class BadRowError(ValidationError):
    """A row of a price file cannot be used; the message names the row and the problem."""


class _Rows:
    """Collect checked rows; raise or count the bad ones."""

    def __init__(self, source: str, skip_bad: bool, ticks: bool = False) -> None:
        self.source, self.skip_bad = source, skip_bad
        self.labels = ("price",) * 4 if ticks else ("open", "high", "low", "close")
        self.skipped = 0
        self.ts: list[int] = []
        self.cols: tuple[list[str], list[str], list[str], list[str], list[str]] = (
            [],
            [],
            [],
            [],
            [],
        )

    def bad(self, row: int, problem: str) -> None:
        if not self.skip_bad:
            raise BadRowError(f"{self.source}: row {row}: {problem}")
        self.skipped += 1

    def add(self, row: int, ts_text: str, ohlcv: tuple[str, str, str, str, str]) -> None:
        try:
            ts = _timestamp(ts_text)
            o, h, low, c = (
                _price(name, text) for name, text in zip(self.labels, ohlcv[:4], strict=True)
            )
            volume = _number("volume", ohlcv[4])
        except ValueError as exc:
            self.bad(row, str(exc))
            return
        if volume < 0:
            self.bad(row, f"volume must be >= 0, received {ohlcv[4]!r}")
        elif low > min(o, c) or h < max(o, c):
            self.bad(row, f"need low <= open, close <= high, received o={o} h={h} l={low} c={c}")
        elif self.ts and ts <= self.ts[-1]:
            self.bad(row, f"time must increase, received {ts} after {self.ts[-1]}")
        else:
            self.ts.append(ts)
            for column, text in zip(self.cols, ohlcv, strict=True):
                column.append(text.strip())

    def to_series(self, kind: series.Kind) -> Series:
        o, h, low, c, v = self.cols
        if not c:
            raise ValidationError(f"{self.source}: no usable rows")
        if kind == "ticks":
            out = series.ticks(self.ts, c, v)
        else:
            out = series.candles(self.ts, o, h, low, c, v)
        out.skipped = self.skipped
        return out


def _number(name: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(f"{name} must be a number, received {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, received {text!r}")
    return value


def _price(name: str, text: str) -> Decimal:
    value = _number(name, text)
    if value <= 0:
        raise ValueError(f"price must be > 0, received {text!r}")
    return value


def _timestamp(text: str) -> int:
    value = _number("time", text)
    if value != value.to_integral_value() or value < 0:
        raise ValueError(f"time must be a whole number of ms, received {text!r}")
    ts = int(value)
    return ts // 1000 if ts >= MICROSECONDS_AFTER else ts


def _open_text(path: Path) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return fh.read()
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read it: {exc.strerror or exc}") from None


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if row and any(cell.strip() for cell in row):
            yield number, row


def _is_header(row: list[str]) -> bool:
    try:
        Decimal(row[0].strip())
    except InvalidOperation:
        return True
    return False


def parse_ticks(rows: Iterable[tuple[int, list[str]]], source: str, skip_bad: bool) -> Series:
    """Return ticks from `ts,price[,volume]` rows (a header row is allowed)."""
    out = _Rows(source, skip_bad, ticks=True)
    for number, row in rows:
        if number == 1 and _is_header(row):
            continue
        if len(row) not in (2, 3):
            out.bad(number, f"expected ts,price[,volume], received {len(row)} fields")
            continue
        price = row[1]
        out.add(number, row[0], (price, price, price, price, row[2] if len(row) == 3 else "0"))
    return out.to_series("ticks")


def parse_binance(rows: Iterable[tuple[int, list[str]]], source: str, skip_bad: bool) -> Series:
    """Return candles from Binance kline rows: open time, open, high, low, close, volume, ..."""
    out = _Rows(source, skip_bad)
    for number, row in rows:
        if number == 1 and _is_header(row):
            continue
        if len(row) < 6:
            out.bad(number, f"expected open_time,open,high,low,close,volume,..., got {len(row)}")
            continue
        out.add(number, row[0], (row[1], row[2], row[3], row[4], row[5]))
    return out.to_series("candles")


def parse_freqtrade(text: str, source: str, skip_bad: bool) -> Series:
    """Return candles from Freqtrade JSON `[[ts, o, h, l, c, v], ...]` (numbers kept as text)."""
    try:
        data = json.loads(text, parse_float=str, parse_int=str)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{source}: not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise ValidationError(f"{source}: expected a JSON list of [ts, o, h, l, c, v] rows")
    out = _Rows(source, skip_bad)
    for number, row in enumerate(data, start=1):
        if not isinstance(row, list) or len(row) < 6 or not all(isinstance(x, str) for x in row):
            out.bad(number, f"expected [ts, open, high, low, close, volume], received {row!r}")
            continue
        out.add(number, row[0], (row[1], row[2], row[3], row[4], row[5]))
    return out.to_series("candles")


def detect_format(path: Path, text: str) -> Format:
    """Return the format of a file: JSON is Freqtrade's; CSV with 2-3 fields ticks, else Binance."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".json") or text.lstrip().startswith("["):
        return "freqtrade"
    # The first rows decide: read them from the head of the text (whole lines), not a copy of
    # all of it, and the whole text only when the head holds no data row.
    cut = text.rfind("\n", 0, HEAD_CHARS) + 1
    if 0 < cut < len(text):
        try:
            return _first_data_row_format(text[:cut])
        except (LookupError, csv.Error):  # no data row in the head, or a quote open at its end
            pass
    try:
        return _first_data_row_format(text)
    except LookupError:
        raise ValidationError(f"{path}: empty file") from None


def _first_data_row_format(text: str) -> Format:
    for _, row in _csv_rows(text):
        if _is_header(row) and "price" not in ",".join(row).lower():
            continue
        return "ticks" if len(row) <= 3 else "binance"
    raise LookupError("no data row")


def load(path: Path, fmt: Format = "auto", *, skip_bad: bool = False) -> Series:
    """Return the series in a price file (`.gz` allowed); fmt 'auto' guesses from the content."""
    text = _open_text(path)
    kind = detect_format(path, text) if fmt == "auto" else fmt
    source = str(path)
    if kind in ("ticks", "binance"):
        # The common case, a plain file whose every row is good, in bulk; at the first doubt
        # (None) the rows are read one by one below, which names the bad row.
        plain = read_plain(text, kind, _is_header, MICROSECONDS_AFTER)
        if plain is not None:
            return plain
    if kind == "freqtrade":
        return parse_freqtrade(text, source, skip_bad)
    if kind == "ticks":
        return parse_ticks(_csv_rows(text), source, skip_bad)
    return parse_binance(_csv_rows(text), source, skip_bad)

"""A plain price file read in bulk: the common case of `parsers.load`, at numpy's speed.

The row-by-row reader checks every cell as a Decimal: three million of them for a year of
1-minute candles, most of a replay's time from process start. Most files are plain - no quotes,
numbers of ASCII digits and one point, every row good - and this reads those column by column:
numpy parses the floats and the checks run on whole columns. It answers None at the first doubt
(a quote, a blank line, a cell of other characters, a row it cannot prove good), and the caller
then reads the file row by row as before, naming the bad row. When it answers, the series is
the one the row-by-row reader returns (tests/replay/test_parsers.py checks both on the same
files), with its float columns already parsed.

Exact: the float of a decimal text is correctly rounded, so it orders two texts as their
Decimals do unless the two floats are equal; those pairs are compared as Decimals.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Literal

import numpy as np

from mmtasks.replay.series import FloatArray, IntArray, Series

_DECIMAL_CHARS = {ord(c): None for c in "0123456789.\n"}
_MAX_TS_DIGITS = 18  # an int64 holds every such number


def read_plain(
    text: str,
    kind: Literal["ticks", "binance"],
    is_header: Callable[[list[str]], bool],
    microseconds_after: int,
) -> Series | None:
    """Return the series of a plain file whose every row is good, else None."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if '"' in text or "\r" in text:
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if lines and is_header(lines[0].split(",")):
        lines = lines[1:]
    if not lines:
        return None
    commas = {line.count(",") for line in lines}
    width = min(commas) + 1
    if (kind == "ticks" and not commas <= {1, 2}) or (kind == "binance" and width < 6):
        return None
    if len(commas) == 1:
        # Every row as wide: one split of the whole text, each column a stride of it.
        flat = ",".join(lines).split(",")
        cells = [flat[k::width] for k in range(min(width, 6))]
    else:
        rows = [line.split(",") for line in lines]
        cells = [[row[k] if k < len(row) else "0" for row in rows] for k in range(6)]
    ts = _timestamps(cells[0], microseconds_after)
    if ts is None:
        return None
    if kind == "ticks":
        prices = cells[1]
        volumes = cells[2] if len(cells) > 2 else ["0"] * len(prices)  # ts,price: no volume
        texts = [prices, prices, prices, prices, volumes]
    else:
        texts = cells[1:6]
    floats = [_floats(column) for column in texts]
    if any(f is None for f in floats):
        return None
    o, h, low, c, v = (f for f in floats if f is not None)
    if not ((o > 0) & (h > 0) & (low > 0) & (c > 0)).all() or not np.isfinite(v).all():
        return None
    pairs = ((2, 0), (2, 3), (0, 1), (3, 1))  # low <= open, close; open, close <= high
    if kind == "binance" and not all(_ordered(texts, floats, a, b) for a, b in pairs):
        return None
    o_t, h_t, low_t, c_t, v_t = texts
    out = Series("ticks" if kind == "ticks" else "candles", ts, o_t, h_t, low_t, c_t, v_t)
    for name, column in zip(("open", "high", "low", "close", "volume"), floats, strict=True):
        assert column is not None
        out._floats[name] = column
    return out


def _timestamps(cells: list[str], microseconds_after: int) -> IntArray | None:
    joined = "".join(cells)
    if not (joined.isascii() and joined.isdigit()):
        return None
    if min(map(len, cells)) < 1 or max(map(len, cells)) > _MAX_TS_DIGITS:
        return None
    ts = np.array(cells, dtype=np.int64)
    ts = np.where(ts >= microseconds_after, ts // 1000, ts)
    if len(ts) > 1 and not (np.diff(ts) > 0).all():
        return None  # time must increase: the row-by-row reader names the row
    return ts


def _floats(cells: list[str]) -> FloatArray | None:
    joined = "\n".join(cells)
    if not joined.isascii() or joined.translate(_DECIMAL_CHARS):
        return None  # a sign, an exponent, a space...: the row-by-row reader decides
    try:
        values = np.array(cells, dtype=np.float64)  # "", "." and "1.2.3" do not parse
    except ValueError:
        return None
    return values if np.isfinite(values).all() else None


def _ordered(texts: list[list[str]], floats: list[FloatArray | None], a: int, b: int) -> bool:
    """Return True when column a <= column b in every row, exactly."""
    fa, fb = floats[a], floats[b]
    assert fa is not None and fb is not None
    if (fa > fb).any():
        return False
    ta, tb = texts[a], texts[b]
    for i in np.flatnonzero(fa == fb).tolist():
        if ta[i] != tb[i] and Decimal(ta[i]) > Decimal(tb[i]):
            return False
    return True

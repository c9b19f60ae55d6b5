"""A plain price file read in bulk: the common case of `parsers.load`, at numpy's speed.

The row-by-row reader checks every cell as a Decimal: three million of them for a year of
1-minute candles, most of a replay's time from process start. Most files are plain - no quotes,
no blank lines, cells of ASCII digits and one point, every row as wide, every row good - and
this reads those in one pass of numpy's CSV parser (`np.loadtxt`: the time column as int64, the
prices and volume as floats) with the checks on whole columns; a cell's text is split out of its
line only when read (`series.TextColumn`). It answers None at the first doubt (a quote, a blank
line, a cell of other characters, rows of different widths, a row it cannot prove good), and
the caller then reads the file row by row as before, naming the bad row. When it answers, the
series is the one the row-by-row reader returns (tests/replay/test_bulk_parse.py checks both on
the same files), with its float columns already parsed.

Exact: the float of a decimal text is correctly rounded, so it orders two texts as their
Decimals do unless the two floats are equal; those pairs are compared as Decimals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Literal

import numpy as np

from mmtasks.replay.series import FloatArray, IntArray, Lines, Series, TextColumn

_PLAIN_CHARS = {ord(c): None for c in "0123456789.,\n"}
_COLUMNS = ("open", "high", "low", "close", "volume")


def read_plain(
    text: str,
    kind: Literal["ticks", "binance"],
    is_header: Callable[[list[str]], bool],
    microseconds_after: int,
) -> Series | None:
    """Return the series of a plain file whose every row is good, else None."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = bool(lines) and is_header(lines[0].split(","))
    body = text[len(lines[0]) + 1 :] if header else text
    if header:
        lines = lines[1:]
    if not lines or "" in lines or not body.isascii() or body.translate(_PLAIN_CHARS):
        return None  # a blank line, a quote, a sign, a space...: the row-by-row reader decides
    width = lines[0].count(",") + 1
    if (kind == "ticks" and width not in (2, 3)) or (kind == "binance" and width < 6):
        return None
    # Ticks: no usecols, so a row wider or narrower than the first fails the parse; Binance:
    # the first six columns (what follows is not read, as row by row).
    columns = width if kind == "ticks" else 6
    fields = [("ts", np.int64), *((f"c{k}", np.float64) for k in range(1, columns))]
    usecols = None if kind == "ticks" else range(columns)
    try:
        table = np.loadtxt(
            lines, delimiter=",", dtype=fields, usecols=usecols, comments=None, ndmin=1
        )
    except ValueError:  # an empty cell, "1.2.3", a time over int64, a row too narrow...
        return None
    ts = _timestamps(table["ts"], microseconds_after)
    if ts is None:
        return None
    n = len(lines)
    parsed = {name: np.ascontiguousarray(table[name]) for name, _ in fields[1:]}
    rows = Lines(lines)
    texts: list[Sequence[str]]
    if kind == "ticks":
        price = TextColumn(rows, 1)
        volume = TextColumn(rows, 2) if width == 3 else ["0"] * n  # ts,price: no volume
        texts = [price, price, price, price, volume]
        floats = [parsed["c1"]] * 4 + [parsed["c2"] if width == 3 else np.zeros(n)]
    else:
        texts = [TextColumn(rows, k) for k in range(1, 6)]
        floats = [parsed[f"c{k}"] for k in range(1, 6)]
    o, h, low, c, _ = floats
    if not ((o > 0) & (h > 0) & (low > 0) & (c > 0)).all():
        return None
    if not all(np.isfinite(column).all() for column in floats):
        return None
    pairs = ((2, 0), (2, 3), (0, 1), (3, 1))  # low <= open, close; open, close <= high
    if kind == "binance" and not all(_ordered(texts, floats, a, b) for a, b in pairs):
        return None
    o_t, h_t, low_t, c_t, v_t = texts
    out = Series("ticks" if kind == "ticks" else "candles", ts, o_t, h_t, low_t, c_t, v_t)
    for name, column in zip(_COLUMNS, floats, strict=True):
        out._floats[name] = column
    if kind == "binance":
        out._lines = rows
    return out


def _timestamps(ts: IntArray, microseconds_after: int) -> IntArray | None:
    ts = np.where(ts >= microseconds_after, ts // 1000, ts)
    if len(ts) > 1 and not (np.diff(ts) > 0).all():
        return None  # time must increase: the row-by-row reader names the row
    return ts


def _ordered(texts: list[Sequence[str]], floats: list[FloatArray], a: int, b: int) -> bool:
    """Return True when column a <= column b in every row, exactly."""
    fa, fb = floats[a], floats[b]
    if (fa > fb).any():
        return False
    ta, tb = texts[a], texts[b]
    for i in np.flatnonzero(fa == fb).tolist():
        if ta[i] != tb[i] and Decimal(ta[i]) > Decimal(tb[i]):
            return False
    return True

"""The bulk reader of plain price files gives the series the row-by-row reader gives, or None.

`parsers.load` reads a plain file in bulk (mmtasks/replay/bulk.py) and falls back to the
row-by-row reader at the first doubt; here both readers run on the same texts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmtasks.replay.bulk import read_plain
from mmtasks.replay.generate import generate, write_binance_csv
from mmtasks.replay.parsers import (
    MICROSECONDS_AFTER,
    BadRowError,
    _csv_rows,
    _is_header,
    parse_binance,
    parse_ticks,
)
from mmtasks.replay.series import Series

SAMPLE = Path(__file__).parents[2] / "mmtasks" / "replay" / "data" / "sample-BTCUSDT-1m.csv"
COLUMNS = ("open", "high", "low", "close", "volume")
MICRO = MICROSECONDS_AFTER  # open times in microseconds from here on


def _row_by_row(text: str, kind: str) -> Series | str:
    parse = parse_ticks if kind == "ticks" else parse_binance
    try:
        return parse(_csv_rows(text), "f", False)
    except BadRowError as exc:
        return str(exc)


def _assert_same(text: str, kind: str) -> Series | None:
    bulk = read_plain(text, "ticks" if kind == "ticks" else "binance", _is_header, 10**14)
    slow = _row_by_row(text, kind)
    if bulk is None:
        return None
    assert isinstance(slow, Series), f"bulk read a file the row-by-row reader refuses: {slow}"
    assert bulk.kind == slow.kind and bulk.skipped == slow.skipped == 0
    assert bulk.ts_ms.dtype == slow.ts_ms.dtype and bulk.ts_ms.tolist() == slow.ts_ms.tolist()
    for column in COLUMNS:
        assert getattr(bulk, f"{column}_text") == getattr(slow, f"{column}_text")
        assert np.array_equal(bulk.floats(column), slow.floats(column))
    return bulk


def test_the_sample_and_a_generated_month_are_read_in_bulk_as_row_by_row() -> None:
    sample = SAMPLE.read_text()
    month = generate(30 * 1440, seed=3)
    lines: list[str] = []
    write_binance_csv(month, _Lines(lines))

    assert _assert_same(sample, "binance") is not None
    assert _assert_same("".join(lines), "binance") is not None
    assert _assert_same(sample.replace("\n", "\r\n"), "binance") is not None


class _Lines:
    def __init__(self, out: list[str]) -> None:
        self.out = out

    def write(self, text: str) -> int:
        self.out.append(text)
        return len(text)


@pytest.mark.parametrize(
    ("text", "kind", "bulk"),
    [
        ("ts,price\n1000,100.10\n2000,99.5\n", "ticks", True),
        ("1000,100\n2000,101\n3000,1.\n", "ticks", True),
        ("1000,100,2\n2000,101,3\n", "ticks", True),
        # Rows of different widths are read row by row (a volume in one row only is real).
        ("1000,100\n2000,101,3\n3000,1.\n", "ticks", False),
        ("1000,100,3\n2000,101\n", "ticks", False),
        ("open_time,open,high,low,close,volume\n1,1,2,1,2,0\n", "binance", True),
        (f"{MICRO},1,2,1,2,0\n{MICRO + 1000},1,2,1,2,0\n", "binance", True),
        ("1,.5,0.50,0.5,.50,0\n", "binance", True),
        ("1,0.1,0.10000000000000000001,0.1,0.1,0\n", "binance", True),
        # Equal floats, texts the wrong way round: only Decimals tell.
        ("1,0.10000000000000000001,0.1,0.1,0.1,0\n", "binance", False),
        ("1000,100\n2000,abc\n", "ticks", False),
        ("1000,100\n900,101\n", "ticks", False),
        ("1000,100\n2000,-1\n", "ticks", False),
        ("1000,100\n2000,0\n", "ticks", False),
        ("1000,100\n2000\n", "ticks", False),
        ("1000,100\n\n2000,101\n", "ticks", False),
        ("1000,1e2\n", "ticks", False),
        ("1000, 100\n", "ticks", False),
        ('1000,"100"\n', "ticks", False),
        ("1000,100,101,99,102,1\n", "binance", False),
        ("1000,100,101,99,100.5\n", "binance", False),
        ("1000.0,100,101,99,100,1\n", "binance", False),
    ],
)
def test_plain_files_are_read_in_bulk_and_the_rest_row_by_row(
    text: str, kind: str, bulk: bool
) -> None:
    assert (_assert_same(text, kind) is not None) is bulk


CELLS = st.sampled_from(["1", "2", "2.0", "2.00", ".5", "3.", "0.1", "0.10", "10", "0", "x"])


@given(rows=st.lists(st.tuples(CELLS, CELLS, CELLS, CELLS, CELLS), min_size=1, max_size=8))
def test_random_small_files_agree(rows: list[tuple[str, str, str, str, str]]) -> None:
    text = "".join(f"{1000 * (n + 1)},{','.join(row)}\n" for n, row in enumerate(rows))

    _assert_same(text, "binance")

"""Price files: the three formats, and bad rows named by number (or skipped and counted)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mmtasks.replay.parsers import BadRowError, load


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_ticks_binance_with_and_without_header_and_freqtrade(tmp_path: Path) -> None:
    ticks = load(write(tmp_path, "t.csv", "ts,price\n1000,100.10\n2000,99.5\n"))
    binance = load(write(tmp_path, "b.csv", "1000,100,101,99,100.5,3,1999,0,0,0,0,0\n"))
    header = load(write(tmp_path, "h.csv", "open_time,open,high,low,close,volume\n1,1,2,1,2,0\n"))
    freq = load(write(tmp_path, "f.json", "[[1000, 100.1, 101, 99, 100.5, 3.25]]"))

    assert (ticks.kind, ticks.close_text) == ("ticks", ["100.10", "99.5"])
    assert (binance.kind, binance.low_text, binance.volume_text) == ("candles", ["99"], ["3"])
    assert header.close_text == ["2"]
    assert (freq.open_text, freq.volume_text) == (["100.1"], ["3.25"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1000,100\n2000,abc\n", "row 2: price must be a number, received 'abc'"),
        ("1000,100\n900,101\n", "row 2: time must increase, received 900 after 1000"),
        ("1000,100\n2000,-1\n", "row 2: price must be > 0"),
        ("1000,100\n2000\n", "row 2: expected ts,price[,volume], received 1 fields"),
    ],
)
def test_a_bad_tick_row_stops_the_run_with_its_number(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(BadRowError, match=re.escape(message)):
        load(write(tmp_path, "t.csv", text), "ticks")


def test_a_candle_with_high_below_close_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "b.csv", "1,10,11,9,10,1\n2,10,10,9,12,1\n")

    with pytest.raises(BadRowError, match=r"b.csv: row 2: need low <= open, close <= high"):
        load(path)


def test_skip_bad_drops_and_counts_the_bad_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "1000,100\n2000,x\n3000,101\n3000,102\n")

    data = load(path, skip_bad=True)

    assert (data.close_text, data.skipped) == (["100", "101"], 2)


def test_the_format_is_told_past_a_long_head_without_data(tmp_path: Path) -> None:
    # 70,000 blank lines: the head detect_format reads first holds no data row.
    ticks = load(write(tmp_path, "t.csv", "\n" * 70_000 + "1000,100.10\n2000,99.5\n"))
    big = load(write(tmp_path, "b.csv", "".join(f"{k},1,2,1,2,0\n" for k in range(1, 20_000))))

    assert (ticks.kind, ticks.close_text) == ("ticks", ["100.10", "99.5"])
    assert (big.kind, len(big)) == ("candles", 19_999)

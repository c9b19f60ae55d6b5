"""Recording files: rotation, reading a file still being written, tick volumes from klines;
several symbols in one replay run, one report each and a total."""

from __future__ import annotations

import gzip
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from mmtasks.errors import ValidationError
from mmtasks.replay.cli import main as replay_main
from mmtasks.replay.recording import (
    RecordedKline,
    RecordedTick,
    RotatingGzip,
    load_recording,
    read_ticks,
    tick_volumes,
)

D = Decimal
MINUTE = 60_000


def k(open_ms: int, close: str, volume: str, closed: bool = False) -> RecordedKline:
    return RecordedKline(open_ms, D(close), D(volume), closed)


def t(ts_ms: int, price: str, seq: int) -> RecordedTick:
    return RecordedTick(ts_ms, price, seq)


def test_a_tick_volume_is_the_growth_of_its_forming_candle() -> None:
    ticks = [t(1_000, "100", 1), t(2_000, "101", 2), t(61_000, "102", 3)]
    klines = [
        k(0, "100", "2"),
        k(0, "101", "5"),  # the second trade of minute 0 traded 3
        k(0, "101", "5", closed=True),
        k(MINUTE, "101", "0"),  # the timer opens minute 1 flat before its first trade
        k(MINUTE, "102", "4"),
    ]

    assert tick_volumes(ticks, klines, MINUTE) == [D(2), D(3), D(4)]


def test_a_window_whose_updates_do_not_line_up_puts_its_closed_volume_on_its_last_tick() -> None:
    ticks = [t(1_000, "100", 1), t(2_000, "101", 2)]
    klines = [k(0, "101", "5"), k(0, "101", "7", closed=True)]  # recorder joined mid-candle

    assert tick_volumes(ticks, klines, MINUTE) == [D(0), D(7)]


def test_files_rotate_by_size_and_a_growing_file_reads_up_to_its_last_flush(
    tmp_path: Path,
) -> None:
    writer = RotatingGzip(tmp_path, "ticks", rotate_bytes=30, rotate_s=3600)
    for seq in range(1, 5):
        writer.write(f"{seq * 1000},100.5,{seq}")  # 13 bytes a line: a new file every 3 lines
    writer.flush()

    assert writer.files == 2
    assert [x.seq for x in read_ticks(tmp_path)] == [1, 2, 3, 4]  # the open file too
    writer.close()
    assert [x.price for x in read_ticks(tmp_path)] == ["100.5"] * 4


def test_a_file_cut_mid_line_keeps_the_complete_lines(tmp_path: Path) -> None:
    # What a crash leaves: flushed blocks, half a line, no gzip trailer.
    buffer = io.BytesIO()
    fh = gzip.GzipFile(fileobj=buffer, mode="wb")
    fh.write(b"1000,100,1\n2000,101,2\n")
    fh.flush()
    fh.write(b"3000,10")
    fh.flush()
    (tmp_path / "ticks-1.csv.gz").write_bytes(buffer.getvalue())

    assert [x.seq for x in read_ticks(tmp_path)] == [1, 2]


def test_a_missing_recording_names_what_was_expected_and_what_is_there(tmp_path: Path) -> None:
    (tmp_path / "ETHUSDT").mkdir()
    (tmp_path / "ETHUSDT" / "ticks-1.csv.gz").write_bytes(gzip.compress(b"1000,100,1\n"))

    with pytest.raises(ValidationError, match=r"no recording of BTCUSDT .* symbols there: ETH"):
        load_recording(tmp_path, "BTCUSDT")


def test_several_symbols_give_one_report_each_and_a_total(tmp_path: Path) -> None:
    # GRID.md's cases, touch fills, no fees: long 100 -> 89 -> 95 -> 100 buys 90 and sells 100
    # (+10); neutral 100 -> 111 -> 95 sells 110 and buys 100 back (+10).
    (tmp_path / "AAAUSDT.csv").write_text("0,100\n1000,89\n2000,95\n3000,100\n")
    (tmp_path / "BBBUSDT.csv").write_text("0,100\n1000,111\n2000,95\n")
    (tmp_path / "symbols.yaml").write_text(
        "symbols:\n"
        "  AAAUSDT:\n    strategy: {mode: long, interval: '10', buy_levels: 2, "
        "sell_levels: 2, order_qty: '1'}\n"
        "  BBBUSDT:\n    strategy: {mode: neutral, interval: '10', buy_levels: 2, "
        "sell_levels: 2, order_qty: '1'}\n"
    )
    report = tmp_path / "report.json"

    code = replay_main(
        [
            *("--data", str(tmp_path / "{symbol}.csv"), "--config", str(tmp_path / "symbols.yaml")),
            *("--fill", "touch", "--maker-fee", "0", "--taker-fee", "0", "--step-size", "0.001"),
            *("--json", str(report)),
        ]
    )

    doc = json.loads(report.read_text())
    assert code == 0
    assert [(r["symbol"], r["realized_pnl"], r["fills"]) for r in doc["symbols"]] == [
        ("AAAUSDT", "10", 2),
        ("BBBUSDT", "10", 2),
    ]
    assert (doc["total"]["realized_pnl"], doc["total"]["fills"]) == ("20", 4)


def test_several_symbols_need_one_data_file_each(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("0,100\n")

    code = replay_main(
        [
            *("--data", str(tmp_path / "a.csv"), "--symbol", "AAAUSDT", "--symbol", "BBBUSDT"),
            *("--interval", "10", "--order-qty", "1"),
        ]
    )

    assert code == 2

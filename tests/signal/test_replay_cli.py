"""`mmtasks replay` runs a `kind: signal` strategy: the hand-worked long trade through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from mmtasks.replay.cli import main
from tests.signal.kit import MINUTE, RAW

STRATEGY = {**RAW, "kind": "signal"}  # the hand-worked config of tests/signal/kit.py


def test_a_signal_strategy_replays_through_the_cli_with_the_hand_worked_result(
    tmp_path: Path,
) -> None:
    closes = [10, 10, 10, 9, 12, 19]  # tests/signal/test_backtest.py: long at candle 5 (ATR 3)
    rows = [[i * MINUTE, c, c + 1, c - 1, c, 1] for i, c in enumerate(closes)]
    data = tmp_path / "candles.json"
    data.write_text(json.dumps(rows))
    out = tmp_path / "report.json"

    code = main(
        [
            "--data", str(data), "--symbol", "SIGUSDT", "--strategy", json.dumps(STRATEGY),
            "--tick-size", "0.01", "--step-size", "0.001", "--json", str(out),
        ]
    )  # fmt: skip

    assert code == 0
    report = json.loads(out.read_text())
    # entry at market 12 as a taker (fee 0.0004 x 12 = 0.0048); take-profit 12 + 2 x 3 = 18
    # rests and fills as a maker when candle 6 opens at 19 (fee 0.0002 x 18 = 0.0036)
    assert report["realized_pnl"] == "6"
    assert report["fees"] == "0.0084"
    assert report["net_pnl"] == "5.9916"
    assert (report["fills"], report["taker_fills"], report["final_position"]) == (2, 1, "0")


def test_a_signal_strategy_cannot_be_swept(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "candles.json"
    data.write_text(json.dumps([[0, 10, 11, 9, 10, 1]]))

    code = main(
        ["--data", str(data), "--strategy", json.dumps(STRATEGY), "--sweep", "order_qty=1,2"]
    )

    assert code == 2
    assert "grid" in capsys.readouterr().err

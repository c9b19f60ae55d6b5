"""The backtest: the hand-worked long trade on the replay venue, in the grid replay's report."""

from __future__ import annotations

from mmtasks.replay.series import candles
from mmtasks.replay.signal_backtest import backtest
from tests.signal.kit import MINUTE, config, context


def test_long_entry_then_take_profit_in_the_replay_report():
    closes = ["10", "10", "10", "9", "12", "19"]  # test_pipeline: long at candle 5 (ATR 3)
    data = candles(
        [i * MINUTE for i in range(len(closes))],
        closes,
        [str(int(c) + 1) for c in closes],
        [str(int(c) - 1) for c in closes],
        closes,
        ["1"] * len(closes),
    )

    report, run = backtest(data, config(), context())

    # entry BUY 12.06 at market 12: taker at 12, fee 0.0004 x 12 = 0.0048; take-profit
    # 12 + 2 x 3 = 18 rests, candle 6 opens at 19: maker at 18, fee 0.0002 x 18 = 0.0036
    assert report["realized_pnl"] == "6"
    assert report["fees"] == "0.0084"
    assert report["net_pnl"] == "5.9916"
    assert (report["fills"], report["taker_fills"], report["round_trips"]) == (2, 1, 1)
    assert report["final_position"] == "0"
    types = [e.event_type for e in run.events]
    chain = ["SIGNAL_GENERATED", "SIGNAL_VALIDATED", "TRADE_EXECUTED", "POSITION_OPENED"]
    start = types.index("SIGNAL_GENERATED")
    assert types[start : start + 4] == chain
    assert types.count("POSITION_CLOSED") == 1

"""The operator CLI's status table (a pure rendering of the status task's answer)."""

from __future__ import annotations

from mmtasks.ops import render_status


def test_status_shows_the_kind_and_a_signal_symbols_trade_and_stages() -> None:
    answer = {
        "fleet": {"state": "ACTIVE", "healthy": True, "symbols": 2},
        "symbols": [
            {"symbol": "BTCUSDT", "kind": "grid", "condition": "ACTIVE", "healthy": True},
            {
                "symbol": "SIGUSDT",
                "kind": "signal",
                "condition": "ACTIVE",
                "healthy": True,
                "signal": {
                    "trade": {
                        "phase": "OPEN",
                        "regime": "trend_up",
                        "stop_price": "104.5",
                        "take_profit_price": "121",
                    },
                    "stages": {
                        "data": {"state": "RUNNING", "error_count": 0},
                        "indicators": {"state": "RECOVERING", "error_count": 2},
                    },
                },
            },
        ],
    }

    lines = render_status(answer).splitlines()

    header = lines[1].split()
    assert header[:3] == ["symbol", "kind", "state"]
    assert lines[2].split()[:3] == ["BTCUSDT", "grid", "ACTIVE"]
    assert lines[3].split()[:3] == ["SIGUSDT", "signal", "ACTIVE"]
    assert lines[-1] == (
        "SIGUSDT signal: OPEN, regime trend_up stop 104.5 take-profit 121; "
        "stages data=RUNNING  indicators=RECOVERING(2 errors)"
    )

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


def test_a_table_rounds_only_decimals_longer_than_eight_places() -> None:
    from mmtasks.ops import shown

    assert shown("-0.3688173083329999999999999614") == "-0.36881731"
    assert shown("30096.89278997993109388458226") == "30096.89278998"
    assert shown("0.000000001") == "0"  # not "-0" or "1E-9"
    assert shown("0.0099860952") == "0.0099861"  # 10 places -> 8 (0.00998610), zero dropped
    assert shown("30078.6") == "30078.6"  # a price keeps its own places
    assert shown("0.12345678") == "0.12345678"  # eight places are left alone
    assert shown("BTCUSDT") == "BTCUSDT" and shown(None) == ""

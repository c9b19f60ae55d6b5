"""The operator CLI's status table (a pure rendering of the status task's answer)."""

from __future__ import annotations

from mmtasks.ops.render import render_status, render_symbols


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
    assert header[:4] == ["symbol", "venue", "kind", "state"]
    assert lines[2].split()[:4] == ["BTCUSDT", "sim", "grid", "ACTIVE"]
    assert lines[3].split()[:4] == ["SIGUSDT", "sim", "signal", "ACTIVE"]
    assert lines[-1] == (
        "SIGUSDT signal: OPEN, regime trend_up stop 104.5 take-profit 121; "
        "stages data=RUNNING  indicators=RECOVERING(2 errors)"
    )


def test_a_table_rounds_only_decimals_longer_than_eight_places() -> None:
    from mmtasks.ops.render import shown

    assert shown("-0.3688173083329999999999999614") == "-0.36881731"
    assert shown("30096.89278997993109388458226") == "30096.89278998"
    assert shown("0.000000001") == "0"  # not "-0" or "1E-9"
    assert shown("0.0099860952") == "0.0099861"  # 10 places -> 8 (0.00998610), zero dropped
    assert shown("30078.6") == "30078.6"  # a price keeps its own places
    assert shown("0.12345678") == "0.12345678"  # eight places are left alone
    assert shown("BTCUSDT") == "BTCUSDT" and shown(None) == ""


def test_symbols_shows_each_config_in_brief_and_a_long_signal_config_stays_short() -> None:
    signal = {
        "kind": "signal",
        "indicators": ["ema_9", "ema_21", "sma_50", "rsi_14", "atr_14"],
        "rules": {"long": ["ema_9 crosses_above ema_21", "rsi_14 < 70"], "exit_long": ["x"]},
        "regime": {"trend_up": ["ema_21 > sma_50"], "trend_down": ["ema_21 < sma_50"]},
        "order_notional": "50",
        "stop_atr": "2",
        "take_profit_pct": "4",
    }
    answer = {
        "symbols": [
            {
                "symbol": "BTCUSDT",
                "status": "ACTIVE",
                "exchange": "sim",
                "version": 3,
                "consumer": None,
                "strategy": {"mode": "neutral", "interval": "25", "order_qty": "0.001"},
                # as the registry stores it: defaults filled in (stale_after_s, kline_interval)
                "risk": {
                    "max_position": "0.05",
                    "stale_after_s": 60,
                    "kline_interval": "5m",
                    "max_drawdown_quote": None,
                },
            },
            {
                "symbol": "LINKUSDT",
                "status": "PAUSED",
                "exchange": "sim",
                "version": 1,
                "consumer": "linkusdt",
                "strategy": signal,
                "risk": {},
            },
        ]
    }

    lines = render_symbols(answer).splitlines()

    assert lines[0].split() == [
        "symbol", "status", "exchange", "version", "consumer", "strategy", "risk",
    ]  # fmt: skip
    # Levels default to 10 a side, the grid's own defaults; risk shows only what differs from
    # the defaults (stale_after_s 60 and kline_interval 1m are RiskConfig's).
    assert lines[1].split("  ")[0] == "BTCUSDT"
    assert "grid neutral every 25, 10/10 levels, qty 0.001" in lines[1]
    assert lines[1].endswith("max_position=0.05 kline_interval=5m")
    assert "signal 5 indicators, notional 50, stop 2xATR, tp 4%" in lines[2]
    assert lines[2].endswith("defaults")
    assert max(len(line) for line in lines) < 140


def test_status_shows_each_venues_budget_and_a_pause_in_force() -> None:
    answer = {
        "fleet": {"state": "ACTIVE", "healthy": True, "symbols": 0},
        "venues": {
            "binanceusdm": {
                "paused_ms": 8500,
                "pause_reason": "HTTP 418 from binanceusdm, Retry-After 10s",
                "scopes": [
                    {
                        "name": "orders_10s",
                        "left": 12.4,
                        "capacity": 28.5,
                        "limit": 300,
                        "window_ms": 10_000,
                    },
                    {
                        "name": "weight",
                        "left": 200.0,
                        "capacity": 228.0,
                        "limit": 2400,
                        "window_ms": 60_000,
                    },
                ],
                "stats": {"waits": 3, "denied": 1},
            }
        },
        "symbols": [],
    }

    venue_line = render_status(answer).splitlines()[1]

    assert venue_line == (
        "venue binanceusdm: orders_10s 12/28 left (limit 300 per 10s)  weight 200/228 left "
        "(limit 2400 per 60s)  waits 3, refused 1  PAUSED 8.5s more: HTTP 418 from "
        "binanceusdm, Retry-After 10s"
    )


def test_the_hosts_cell_stars_the_host_whose_worker_holds_the_lock() -> None:
    from mmtasks.ops.render import hosts_cell

    entry = {
        "consumers_by_host": {"host-a": ["symbols0@host-a"], "host-b": ["symbols0@host-b"]},
        "lock_holder": "host-b:4242",
    }

    assert hosts_cell(entry) == "host-a,host-b*"
    assert hosts_cell({"consumers_by_host": None, "lock_holder": None}) == "-"

"""Live = replay with the circuit breaker armed: the same fills, state and breaker events.

The breaker is decided by the one core the worker and replay share (`trading.advance`), so a
config with `max_drawdown_quote` or `max_losing_closes` backtests as it trades. The live
fleet (`Fleet.tick` settles each price, its fills in Redis before the step that sees it) and
`mmtasks replay --fill touch` on the same prices must agree on the fills (side, price, qty,
fee, maker), the symbol's state (status, breaker, its reason, the streak, the peak) and the
breaker's events. Expected trips are worked from GRID.md and the breaker's definition:

- drawdown, REDUCING: long grid of 10, three buys at 90, 80, 70 from the anchor at 100; at 100
  equity is 0 (the peak); at 70 the position is 3 at average 80, so equity is
  -30 - fees (maker 0.0002 of 90 + 80 + 70 = 0.048): drawdown 30.048 > 25 trips it. Reduce-only
  then: no entry below 70, and the three closing sells fill on the way back up.
- losing closes, PAUSED: four buys 90..60 (average 75); at 70 the closing sell of the 60 lot
  realizes 70 - 75 = -5 (streak 1); back at 60 the lot is bought again (average
  (225 + 60) / 4 = 71.25) and at 70 sold again at -1.25: streak 2 trips it, the symbol PAUSED
  and every resting order cancelled.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mmtasks.state.keys import keys_for
from tests.integration.test_grid_paths import SYMBOL, Fleet
from tests.replay.test_live_equals_replay import live_fills, replayed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

D = Decimal
BREAKER_EVENTS = ("RISK_LIMIT_BREACHED", "SYMBOL_PAUSED")
STATE = ("status", "breaker", "breaker_reason", "losing_streak", "equity_hwm")

DRAWDOWN = (
    {"mode": "long", "interval": "10", "buy_levels": 3, "sell_levels": 2, "order_qty": "1"},
    {"max_drawdown_quote": "25", "breaker_action": "REDUCING"},
    ["100", "90", "80", "70", "60", "80", "90", "100", "110"],
    ("max_drawdown_quote", "30.048", "25", "REDUCING"),
)
LOSING = (
    {"mode": "long", "interval": "10", "buy_levels": 4, "sell_levels": 2, "order_qty": "1"},
    {"max_losing_closes": 2, "breaker_action": "PAUSED"},
    ["100", "90", "80", "70", "60", "70", "60", "70", "50", "100"],
    ("max_losing_closes", "2", "2", "PAUSED"),
)


def live_breaker_events(fl: Fleet) -> list[dict[str, Any]]:
    """The breaker's events in the symbol's outbox, in order."""
    return [
        {"type": f["type"], "data": json.loads(f["data"])}
        for _, f in fl.redis.xrange(keys_for(SYMBOL).outbox)
        if f["type"] in BREAKER_EVENTS
    ]


@pytest.mark.parametrize(
    ("strategy", "risk", "path", "trip"), [DRAWDOWN, LOSING], ids=["drawdown", "losing-closes"]
)
def test_a_breaker_that_trips_live_trips_the_same_in_replay(
    live_app: None,
    fleet: Callable[..., Fleet],
    exchange: Any,
    tmp_path: Path,
    strategy: dict[str, object],
    risk: dict[str, object],
    path: list[str],
    trip: tuple[str, str, str, str],
) -> None:
    # Arrange + Act: the live fleet trades the path, one settled price at a time.
    fl = fleet(strategy, risk)
    for price in path:
        fl.tick(price)
    live = live_fills(exchange)
    live_state = {f: fl.redis.hget(keys_for(SYMBOL).state, f) or "" for f in STATE}
    live_events = live_breaker_events(fl)
    books = fl.position()

    # ... and replay runs the same prices with the same configs and the venue's rules.
    ticks = tmp_path / "ticks.csv"
    ticks.write_text("".join(f"{k * 1000},{p}\n" for k, p in enumerate(path)))
    info = exchange.symbol_info(SYMBOL)
    (tmp_path / "out").mkdir()
    fills, report = replayed(
        [
            *("--data", str(ticks), "--symbol", SYMBOL, "--fill", "touch"),
            *("--strategy", json.dumps(strategy), "--risk", json.dumps(risk)),
            *("--tick-size", str(info.tick_size), "--step-size", str(info.step_size)),
            *("--min-qty", str(info.min_qty), "--min-notional", str(info.min_notional)),
            *("--maker-fee", str(info.maker_fee_rate), "--taker-fee", str(info.taker_fee_rate)),
        ],
        tmp_path / "out",
    )

    # Assert: it tripped as worked out above, live, and replay agrees on everything.
    limit, figure, threshold, action = trip
    assert live_state["breaker"] == action
    assert live_state["breaker_reason"] == f"{limit}: {figure} (limit {threshold})"
    assert live_events[0] == {
        "type": "RISK_LIMIT_BREACHED",
        "data": {"limit": limit, "figure": figure, "threshold": threshold, "action": action},
    }
    if action == "PAUSED":
        assert live_state["status"] == "PAUSED"
        assert fl.resting() == []
    assert fills == live
    assert {f: report["state"][f] for f in STATE if f != "status"} == {
        f: v for f, v in live_state.items() if f != "status"
    }
    assert (report["state"]["status"] or "ACTIVE") == (live_state["status"] or "ACTIVE")
    assert report["events"] == live_events
    assert (D(report["final_position"]), D(report["realized_pnl"]), D(report["fees"])) == (
        D(books["qty"]),
        D(books["realized_pnl"]),
        D(books["fees"]),
    )

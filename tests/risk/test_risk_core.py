"""The pure fleet-risk core: figures, the decided state with hysteresis, config, the breaker.

Every expected value is worked out by hand in the comment above it.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from mmtasks.domain import FleetState, stricter
from mmtasks.errors import ValidationError
from mmtasks.grid.models import Position, RiskConfig
from mmtasks.risk.breaker import check_breaker, losing_streak, symbol_equity
from mmtasks.risk.config import FleetRiskConfig, merged, parse_fleet_risk
from mmtasks.risk.decide import decide_fleet_state
from mmtasks.risk.figures import Peaks, SymbolBook, compute_figures, p95

D = Decimal
BTC = SymbolBook(
    "BTCUSDT", Position(qty=D("0.5"), avg_cost=D(100), realized_pnl=D(20), fees=D(1)), D(110)
)
ETH = SymbolBook("ETHUSDT", Position(qty=D(-2), avg_cost=D(50), fees=D("0.5")), D(55))
PEAKS = Peaks(high_water=D(20), day="2024-01-01", day_start_equity=D(30))


def test_figures_sum_exposure_and_equity_and_measure_drawdown_from_the_peak() -> None:
    # BTC: exposure 0.5 x 110 = 55; equity 20 - 1 + (110 - 100) x 0.5 = 24.
    # ETH: exposure 2 x 55 = 110; equity 0 - 0.5 + (55 - 50) x -2 = -10.5.
    # Fleet: exposure 165, equity 13.5, peak stays 20, drawdown 6.5 = 6.5 / 1020 of capital
    # 1000 + peak; day loss 30 - 13.5 = 16.5; p95 of 1..20 is the 19th value.
    f = compute_figures([BTC, ETH], PEAKS, "2024-01-01", list(range(1, 21)), D(1000))

    assert (f.exposure, f.top_symbol, f.top_symbol_exposure) == (D(165), "ETHUSDT", D(110))
    assert (f.equity, f.high_water, f.drawdown_quote) == (D("13.5"), D(20), D("6.5"))
    assert f.drawdown_pct == D("6.5") / D(1020) * 100
    assert (f.day_start_equity, f.day_loss) == (D(30), D("16.5"))
    assert (f.latency_p95_ms, f.latency_samples, f.symbols) == (19, 20, 2)


def test_high_water_mark_rises_with_equity_and_a_new_day_starts_from_equity() -> None:
    # Equity 13.5 over a peak of 10: the peak becomes 13.5, no drawdown; new day: loss 0.
    f = compute_figures([BTC, ETH], Peaks(D(10), "2023-12-31", D(99)), "2024-01-01", [])

    assert (f.high_water, f.drawdown_quote, f.drawdown_pct) == (D("13.5"), D(0), None)
    assert (f.day, f.day_start_equity, f.day_loss, f.latency_p95_ms) == (
        "2024-01-01",
        D("13.5"),
        D(0),
        None,
    )


def test_first_run_takes_equity_as_the_peak_and_a_flat_symbol_has_no_exposure() -> None:
    f = compute_figures(
        [SymbolBook("XUSDT", Position(realized_pnl=D(5)))], Peaks(), "2024-01-01", [7]
    )

    assert (f.exposure, f.equity, f.high_water, f.latency_p95_ms) == (D(0), D(5), D(5), 7)


@pytest.mark.parametrize(
    ("samples", "expected"),
    [([], None), ([5], 5), ([1, 2, 3, 4], 4), (list(range(100, 0, -1)), 95)],
)
def test_p95_is_nearest_rank(samples: list[int], expected: int | None) -> None:
    assert p95(samples) == expected


LIMITS = FleetRiskConfig(max_exposure_quote=D(150), max_drawdown_quote=D(10))


def figures(exposure: str = "0", drawdown: str = "0") -> object:
    base = compute_figures([], Peaks(), "2024-01-01", [])
    return replace(base, exposure=D(exposure), drawdown_quote=D(drawdown))


@pytest.mark.parametrize(
    ("current", "exposure", "drawdown", "expected"),
    [
        # 165 > 150: no new exposure.
        (FleetState.ACTIVE, "165", "0", FleetState.REDUCING),
        # 130 is under 150: stays ACTIVE; but once REDUCING, 130 > 120 (80 % of 150) holds it.
        (FleetState.ACTIVE, "130", "0", FleetState.ACTIVE),
        (FleetState.REDUCING, "130", "0", FleetState.REDUCING),
        (FleetState.REDUCING, "119", "0", FleetState.ACTIVE),
        # Drawdown 11 > 10 wins over exposure; HALTED stays when every figure is fine again.
        (FleetState.REDUCING, "165", "11", FleetState.HALTED),
        (FleetState.HALTED, "0", "0", FleetState.HALTED),
    ],
)
def test_decide_fleet_state(
    current: FleetState, exposure: str, drawdown: str, expected: FleetState
) -> None:
    decision = decide_fleet_state(current, False, figures(exposure, drawdown), LIMITS)  # type: ignore[arg-type]

    assert decision.state is expected


def test_decision_names_the_breach_and_an_operator_reducing_is_not_cleared() -> None:
    over = decide_fleet_state(FleetState.ACTIVE, False, figures("165"), LIMITS)  # type: ignore[arg-type]
    kept = decide_fleet_state(FleetState.REDUCING, True, figures("0"), LIMITS)  # type: ignore[arg-type]

    assert over.reason == "max_exposure_quote: 165 > 150"
    assert kept.state is FleetState.REDUCING


def test_stricter_state_wins_and_garbage_fails_safe() -> None:
    assert stricter("ACTIVE", "REDUCING") is FleetState.REDUCING
    assert stricter("HALTED", "ACTIVE") is FleetState.HALTED
    assert stricter("ACTIVE", "bogus") is FleetState.HALTED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"max_exposure_quote": "-1"}, "max_exposure_quote must be > 0, received -1"),
        ({"max_exposure_quote": 1.5}, "max_exposure_quote"),
        ({"max_drawdown_pct": "5"}, "max_drawdown_pct needs capital_quote"),
        ({"max_drawdown_pct": "150", "capital_quote": "1"}, "must be <= 100, received 150"),
        ({"max_connector_latency_ms": "fast"}, "must be an integer, received 'fast'"),
        ({"max_exposur": "1"}, "max_exposur is not a fleet risk setting"),
    ],
)
def test_bad_fleet_config_is_refused_with_what_was_expected(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        parse_fleet_risk(data)


def test_merge_sets_and_removes_limits() -> None:
    current = parse_fleet_risk({"max_exposure_quote": "1000", "max_drawdown_quote": "50"})

    new = merged(current, {"max_exposure_quote": "2000", "max_drawdown_quote": None})

    assert (new.max_exposure_quote, new.max_drawdown_quote) == (D(2000), None)
    with pytest.raises(ValidationError, match="bogus is not a fleet risk setting"):
        merged(current, {"bogus": None})


def test_breaker_trips_on_drawdown_from_the_symbols_own_peak() -> None:
    # Long 2 at 100, realized 30, fees 2, mark 90: equity 30 - 2 + (90 - 100) x 2 = 8.
    position = Position(qty=D(2), avg_cost=D(100), realized_pnl=D(30), fees=D(2))
    equity = symbol_equity(position, D(90))
    risk = RiskConfig(max_drawdown_quote=D(15))

    assert equity == D(8)
    # Peak 20: drawdown 12 <= 15, no trip; peak 25: drawdown 17 > 15, trips.
    assert check_breaker(risk, equity, D(20), 0).tripped is None
    assert check_breaker(risk, equity, D(25), 0).tripped == ("max_drawdown_quote", "17", "15")
    assert check_breaker(risk, D(30), D(25), 0).high_water == D(30)


def test_losing_streak_counts_losses_in_a_row_and_a_win_resets_it() -> None:
    risk = RiskConfig(max_losing_closes=3)
    streak = 0
    for before, after in [(10, 8), (8, 7), (7, 9), (9, 5), (5, 4), (4, 4), (4, 1)]:
        streak = losing_streak(streak, D(before), D(after))

    # loss, loss, win (reset), loss, loss, no change, loss: 3 in a row.
    assert streak == 3
    assert check_breaker(risk, D(0), D(0), streak).tripped == ("max_losing_closes", "3", "3")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"max_drawdown_quote": "0"}, "max_drawdown_quote must be > 0, received 0"),
        ({"max_losing_closes": 0}, "max_losing_closes must be >= 1, received 0"),
        ({"breaker_action": "STOP"}, "breaker_action must be 'REDUCING' or 'PAUSED'"),
        ({"max_tick_to_ack_ms": "soon"}, "max_tick_to_ack_ms must be an integer"),
    ],
)
def test_bad_breaker_config_is_refused(data: dict[str, object], message: str) -> None:
    from mmtasks.grid.models import parse_risk_config

    with pytest.raises(ValidationError, match=message):
        parse_risk_config(data)


def test_dashboard_risk_view_reads_the_risk_tasks_cache(redis_client: object) -> None:
    import json

    from mmtasks.state.keys import RISK
    from mmtasks.web.fleet_view import fleet_risk_view

    client = redis_client  # a real Redis on the test's own database
    client.hset(  # type: ignore[attr-defined]
        RISK,
        mapping={
            "state": "REDUCING",
            "figures": json.dumps({"exposure": "95"}),
            "limits": json.dumps({"max_exposure_quote": "50"}),
            "breaches": json.dumps(["max_exposure_quote: 95 > 50"]),
            "updated_ms": "1700000000000",
        },
    )

    view = fleet_risk_view(client)  # type: ignore[arg-type]

    assert view == {
        "state": "REDUCING",
        "figures": {"exposure": "95"},
        "limits": {"max_exposure_quote": "50"},
        "breaches": ["max_exposure_quote: 95 > 50"],
        "updated_ms": 1700000000000,
    }

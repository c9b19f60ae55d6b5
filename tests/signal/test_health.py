"""The stage lifecycle: restarts up to three times, then escalation; reports."""

from __future__ import annotations

import pytest

from mmtasks.errors import ValidationError
from mmtasks.signal.health import (
    ServiceState,
    StageHealth,
    fleet_report,
    new_stages,
    started,
    symbol_report,
)


def test_three_restarts_then_escalation():
    (stage,) = started([StageHealth("indicators")], 0)
    for n in range(1, 4):
        stage = stage.failed(f"boom {n}", n * 1000)
        assert (stage.state, stage.restarts, stage.escalated) == (ServiceState.RECOVERING, n, False)
        stage = stage.moved(ServiceState.RUNNING, n * 1000 + 500)

    stage = stage.failed("boom 4", 5000)

    assert (stage.state, stage.escalated, stage.error_count) == (ServiceState.ERROR, True, 4)
    assert stage.last_error == "boom 4"


def test_a_good_run_forgives_restarts_and_pause_keeps_uptime():
    (stage,) = started([StageHealth("data")], 1000)
    stage = stage.failed("blip", 2000).ran(3000)
    assert (stage.restarts, stage.last_run_ms) == (0, 3000)

    paused = stage.moved(ServiceState.PAUSED, 4000).moved(ServiceState.RUNNING, 5000)

    assert paused.uptime_s(6000) == 3.0  # running since 3000 (RECOVERING -> RUNNING)


def test_forbidden_move_is_refused_naming_the_allowed_ones():
    with pytest.raises(ValidationError, match="cannot go from CREATED to RUNNING"):
        StageHealth("data").moved(ServiceState.RUNNING, 0)


def test_reports_per_symbol_and_fleet():
    good = {s.stage: s for s in started(list(new_stages().values()), 0)}
    bad = dict(good, execution=good["execution"].failed("rejected", 1000))

    fleet = fleet_report({"BTCUSDT": good, "ETHUSDT": bad}, 10_000, 0)

    assert (fleet["healthy_symbols"], fleet["total_symbols"], fleet["uptime_s"]) == (1, 2, 10.0)
    assert fleet["error_counts"] == {"BTCUSDT": 0, "ETHUSDT": 1}
    assert symbol_report(bad, 10_000)["stages"]["execution"]["state"] == "RECOVERING"

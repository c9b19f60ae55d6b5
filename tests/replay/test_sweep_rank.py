"""A sweep ranks its runs by the metric the user picks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtasks.replay.sweep import _value, rank_value

RUNS = {
    "steady": {"net_pnl": "10", "max_drawdown": "2", "fills": 4},
    "busy": {"net_pnl": "30", "max_drawdown": "20", "fills": 90},
    "never_down": {"net_pnl": "1", "max_drawdown": "0", "fills": 2},
}


@pytest.mark.parametrize(
    ("rank", "order"),
    [
        ("pnl", ["busy", "steady", "never_down"]),
        ("pnl_drawdown", ["never_down", "steady", "busy"]),
        ("fills", ["busy", "steady", "never_down"]),
    ],
)
def test_runs_rank_by_the_chosen_metric(rank: str, order: list[str]) -> None:
    ranked = sorted(RUNS, key=lambda name: rank_value(RUNS[name], rank), reverse=True)

    assert ranked == order


def test_pnl_over_drawdown_is_exact() -> None:
    assert rank_value(RUNS["steady"], "pnl_drawdown") == Decimal(5)


def test_sweep_values_are_spelt_as_a_config_file_spells_them() -> None:
    assert _value("enable_volume_monitor", "false") is False
    assert _value("post_only", "true") is True
    assert _value("buy_levels", "12") == 12
    assert _value("interval", "300") == "300"  # decimals stay exact text

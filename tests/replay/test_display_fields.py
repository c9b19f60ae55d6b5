"""decide_step without display fields (replay's way) decides as the worker does."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from mmtasks.grid.config import SymbolRules, parse_grid_config, parse_risk_config
from mmtasks.grid.models import Action, GridState, Position
from mmtasks.state.keys import StateFields
from mmtasks.trading import advance
from mmtasks.trading.effects import Effects
from mmtasks.trading.snapshot import Snapshot, Tick

RULES = SymbolRules(D("0.01"), D("0.00001"), D("0.00001"), D(5))
STRATEGY = parse_grid_config({"mode": "neutral", "interval": "10", "order_qty": "0.01"})
RISK = parse_risk_config({})
GRID = GridState(symbol="BTCUSDT", anchor=D(100), position=Position(qty=D("0.02")))

# State fields a decision reads (the breaker's REDUCING, a fleet state already recorded or not).
METAS: dict[str, StateFields] = {
    "fresh": {},
    "breaker reducing": {"breaker": "REDUCING"},
    "fleet recorded": {"fleet_state": "ACTIVE"},
}


def _decide(meta: StateFields, fleet: str, *, display: bool) -> tuple[list[Action], Effects]:
    snap = Snapshot(
        symbol="BTCUSDT",
        meta={**meta},
        grid=GRID,
        strategy=STRATEGY,
        risk=RISK,
        rules=RULES,
        candles={},
        tick=Tick(D("100.37"), 60_000, 1),
        fleet_state=fleet,
    )
    fx = Effects(grid=GRID, meta={}, candles={})
    gate = advance.Gate("ACTIVE", waiting=False, needs_reconcile=False)
    return advance.decide_step(snap, fx, gate, 60_000, display=display), fx


def _untimed(events: list[dict[str, str]]) -> list[dict[str, str]]:
    # An event's ts_ms is the wall clock when it was built.
    return [{k: v for k, v in event.items() if k != "ts_ms"} for event in events]


@pytest.mark.parametrize("fleet", ["ACTIVE", "REDUCING", "HALTED", "nonsense"])
@pytest.mark.parametrize("name", list(METAS))
def test_without_display_the_step_decides_and_records_the_same(name: str, fleet: str) -> None:
    # Arrange
    meta = METAS[name]

    # Act
    shown, fx_shown = _decide(meta, fleet, display=True)
    quiet, fx_quiet = _decide(meta, fleet, display=False)

    # Assert: the same orders, grid, events and fields, less the display fields.
    assert quiet == shown
    assert fx_quiet.grid == fx_shown.grid
    assert _untimed(fx_quiet.events) == _untimed(fx_shown.events)
    displayed = {"last_price": "100.37", "last_price_ts_ms": "60000"}
    assert not displayed.keys() & fx_quiet.meta.keys()
    assert {**fx_quiet.meta, **displayed} == fx_shown.meta

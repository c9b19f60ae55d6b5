"""The quiet band keeps a waiting closing order inside its window while orders wait for seats.

With `max_open_orders`, a free slot's closing order inside its window may wait for a seat (or
a free price) and still compete for the seats: once the reference leaves its window it
competes no more and another order takes its seat. The case below is the state a neutral grid
with inventory skew reached in a random path where the fast path skipped such a point (found by
tests/props with HYPOTHESIS_PROFILE=thorough): three closing SELLs hold the three seats, and at
81.49 the short slot 67.59's closing BUY at 65.09 is inside its window (buy_ref - 6 x 2.5 =
64.86) but waits; at 82.07 it is outside (65.43), and the decision gives its place to another
order by cancelling SELL 87.59.
"""

from __future__ import annotations

from decimal import Decimal as D

from mmtasks.domain import Side
from mmtasks.grid.band import LiveSetup, quiet_band
from mmtasks.grid.config import SymbolRules, parse_grid_config, parse_risk_config
from mmtasks.grid.logic import decide
from mmtasks.grid.models import GridState, Market, Position, Slot, SlotStatus

RULES = SymbolRules(D("0.01"), D("0.001"), D("0.001"), D(0))
STRATEGY = parse_grid_config(
    {
        "mode": "neutral",
        "interval": "2.5",
        "buy_levels": 6,
        "sell_levels": 5,
        "order_qty": "1",
        "inventory_skew": "0.01",
    }
)
RISK = parse_risk_config(
    {"max_position": "3.5", "max_open_orders": 3, "enable_volume_monitor": False}
)
SETUP = LiveSetup(STRATEGY, RISK, RULES)


def _closing_sell(level: str, generation: int) -> Slot:
    price = D(level) + D("2.5")
    return Slot(
        D(level),
        SlotStatus.LOCKED,
        Side.SELL,
        price,
        D(1),
        f"c{level}",
        f"v{level}",
        D(0),
        True,
        D(1),
        generation,
    )


def _state() -> GridState:
    resting = [_closing_sell(level, 5) for level in ("85.09", "80.09", "82.59")]
    longs = [Slot(D(level), inventory=D(1)) for level in ("87.59", "90.09", "92.59", "95.09")]
    shorts = [
        Slot(D(level), inventory=D(-1)) for level in ("57.59", "60.09", "62.59", "65.09", "67.59")
    ]
    state = GridState("GRIDUSDT", anchor=D("105.09"), position=Position(qty=D(2)))
    return state.with_slots([*resting, *longs, *shorts])


def test_the_band_ends_where_a_waiting_closing_order_leaves_its_window() -> None:
    # Arrange: the grid settled at 81.49 (its decision there is empty).
    state, now_ms = _state(), 60_000
    settled = Market(D("81.49"), now_ms)
    assert decide(state, settled, STRATEGY, RISK, RULES, now_ms) == []
    moved = Market(D("82.07"), now_ms)

    # Act
    band, _, _ = quiet_band(state, settled, SETUP)

    # Assert: at 82.07 the decision acts, so 82.07 is outside the band; inside it, none does.
    assert decide(state, moved, STRATEGY, RISK, RULES, now_ms) != []
    assert band is not None and band.contains(D("81.49")) and not band.contains(D("82.07"))
    for cents in range(8100, 8300):
        price = D(cents) / 100
        if band.contains(price):
            market = Market(price, now_ms)
            assert decide(state, market, STRATEGY, RISK, RULES, now_ms) == [], price

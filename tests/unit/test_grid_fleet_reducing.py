"""Fleet REDUCING in the core: no order that opens or grows the net position, closing kept.

Worked by hand from GRID.md (interval 10, 2 levels a side, order_qty 1, anchor 100).
"""

from __future__ import annotations

from decimal import Decimal

from mmtasks.domain import Side
from mmtasks.grid.logic import decide
from mmtasks.grid.models import GridState, Market, Position, RiskConfig, Slot
from tests.unit.test_grid_logic import NOW_MS, RULES, cancel, config, place, resting, state

D = Decimal


def reducing(st: GridState, price: str, mode: str = "long") -> list[object]:
    market = Market(price=D(price), price_ts_ms=NOW_MS, candles=())
    return list(decide(st, market, config(mode), RiskConfig(), RULES, NOW_MS, no_new_exposure=True))


def test_flat_long_symbol_places_nothing() -> None:
    assert reducing(state(), "100") == []


def test_flat_neutral_symbol_places_nothing_on_either_side() -> None:
    assert reducing(state(), "100", "neutral") == []


def test_entries_are_cancelled_and_the_closing_sell_of_a_long_is_kept() -> None:
    # 100 -> 89 -> 95: BUY 90 filled; BUY 80, 70 rest, the closing SELL 100 is to be placed.
    buy80, buy70 = resting("80", Side.BUY), resting("70", Side.BUY)
    st = state(buy80, buy70, Slot(level=D(90), inventory=D(1)), position="1")

    actions = reducing(st, "95")

    assert actions == [
        cancel(buy80, "reduce_only"),
        cancel(buy70, "reduce_only"),
        place("90", Side.SELL, "100", closing=True, reduce_only=True),
    ]


def test_short_inventory_in_neutral_gets_its_closing_buy() -> None:
    # 100 -> 111: SELL 110 filled, net -1: the BUY 100 closing order lowers |position|.
    st = state(Slot(level=D(110), inventory=D(-1)), position="-1")

    assert reducing(st, "111", "neutral") == [place("110", Side.BUY, "100", closing=True)]


def test_neutral_offsetting_slots_place_no_closing_order_that_would_flip_a_flat_net() -> None:
    # +1 on the 90 slot, -1 on the 130 slot: net flat. Either closing order alone would open
    # a position (SELL 100 -> net -1, BUY 120 -> net +1), so neither goes out while REDUCING.
    st = GridState(
        symbol="BTCUSDT",
        anchor=D(100),
        slots={
            "90": Slot(level=D(90), inventory=D(1)),
            "130": Slot(level=D(130), inventory=D(-1)),
        },
        position=Position(),
    )

    assert reducing(st, "110", "neutral") == []


def test_two_closing_sells_fit_a_long_of_two() -> None:
    # Long 2 from BUY 90 and BUY 80: SELL 100 and SELL 90 bring the net to 0, never below.
    st = state(Slot(level=D(90), inventory=D(1)), Slot(level=D(80), inventory=D(1)), position="2")

    actions = reducing(st, "85")

    assert actions == [
        place("80", Side.SELL, "90", closing=True, reduce_only=True),
        place("90", Side.SELL, "100", closing=True, reduce_only=True),
    ]

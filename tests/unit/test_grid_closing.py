"""Closing orders, snapping and the zero floor: one table per rule of docs/strategy.md."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtasks.domain import Side
from mmtasks.grid.config import snapped_interval
from mmtasks.grid.ids import client_order_id
from mmtasks.grid.logic import buy_levels, decide, with_anchor
from mmtasks.grid.models import (
    Action,
    CancelOrder,
    GridConfig,
    GridState,
    Market,
    PlaceOrder,
    Position,
    RiskConfig,
    Slot,
    SlotStatus,
    SymbolRules,
)

SYMBOL = "BTCUSDT"
NOW_MS = 1_700_000_000_000
RULES = SymbolRules(
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.001"),
    min_qty=Decimal("0.001"),
    min_notional=Decimal(0),
)
D = Decimal


def config(mode: str = "neutral", **overrides: object) -> GridConfig:
    values: dict[str, object] = {
        "mode": mode,
        "interval": "10",
        "buy_levels": 2,
        "sell_levels": 2,
        "order_qty": "1",
    }
    values.update(overrides)
    return GridConfig.model_validate(values)


def state(*slots: Slot, position: str = "0", reduce_only: bool = False) -> GridState:
    return GridState(
        symbol=SYMBOL,
        anchor=D(100),
        slots={s.key: s for s in slots},
        position=Position(qty=D(position)),
        reduce_only=reduce_only,
    )


def order_slot(
    level: str,
    side: Side,
    price: str | None = None,
    *,
    status: SlotStatus = SlotStatus.LOCKED,
    closing: bool = False,
    inventory: str = "0",
) -> Slot:
    return Slot(
        level=D(level),
        status=status,
        side=side,
        price=D(price or level),
        qty=D(1),
        client_order_id=client_order_id(SYMBOL, D(level), side, 1),
        venue_order_id=None if status is SlotStatus.PENDING else f"v{level}",
        closing=closing,
        inventory=D(inventory),
        generation=1,
    )


def decide_at(
    st: GridState, price: str, cfg: GridConfig, risk: RiskConfig | None = None
) -> list[Action]:
    return decide(st, Market(D(price), NOW_MS), cfg, risk or RiskConfig(), RULES, NOW_MS)


def closings(actions: list[Action]) -> list[tuple[str, str, str]]:
    """Return (slot, side, price) of the closing orders among actions."""
    return [
        (str(a.level), a.side.value, str(a.price))
        for a in actions
        if isinstance(a, PlaceOrder) and a.closing
    ]


@pytest.mark.parametrize(
    ("mode", "inventory", "position", "side", "reduce_only"),
    [
        ("long", "1", "1", Side.SELL, True),  # long: the net position is this inventory
        ("long", "1", "3", Side.SELL, True),
        ("neutral", "1", "1", Side.SELL, False),  # neutral: never reduce-only ...
        ("neutral", "1", "0", Side.SELL, False),  # ... a flat net would make the venue refuse it
        ("neutral", "1", "-1", Side.SELL, False),
        ("neutral", "-1", "-1", Side.BUY, False),
        ("neutral", "-1", "1", Side.BUY, False),
    ],
)
def test_closing_order_is_reduce_only_in_long_mode_only_and_never_post_only(
    mode: str, inventory: str, position: str, side: Side, reduce_only: bool
) -> None:
    st = state(Slot(level=D(90), inventory=D(inventory)), position=position)

    actions = decide_at(st, "91", config(mode, post_only=True))

    (close,) = [a for a in actions if isinstance(a, PlaceOrder) and a.closing]
    assert (close.side, close.price) == (side, D(100) if side is Side.SELL else D(80))
    assert close.reduce_only is reduce_only
    assert close.post_only is False


# The slot at 90 holds +1: its closing SELL aims at 100. Another order occupies 100.
OCCUPIERS = [
    ("resting entry", order_slot("100", Side.SELL), False),
    ("entry in flight", order_slot("100", Side.SELL, status=SlotStatus.PENDING), False),
    # reduce-only: the entry at 100 is cancelled in this same decision, and still occupies
    # its price until the venue confirms
    ("entry being cancelled", order_slot("100", Side.SELL), True),
    (
        "another slot's closing",
        order_slot("110", Side.BUY, "100", closing=True, inventory="-1"),
        False,
    ),
]


@pytest.mark.parametrize(
    ("occupier", "reduce_only"),
    [(o[1], o[2]) for o in OCCUPIERS],
    ids=[o[0] for o in OCCUPIERS],
)
def test_closing_order_waits_while_its_price_is_occupied(occupier: Slot, reduce_only: bool) -> None:
    st = state(
        Slot(level=D(90), inventory=D(1)),
        occupier,
        position=str(1 + occupier.inventory),
        reduce_only=reduce_only,
    )

    waiting = decide_at(st, "95", config())
    freed = decide_at(st.with_slot(occupier.freed()), "95", config())

    assert ("90", "SELL", "100") not in closings(waiting)
    if reduce_only:
        assert any(isinstance(a, CancelOrder) and a.level == D(100) for a in waiting)
    assert ("90", "SELL", "100") in closings(freed)


@pytest.mark.parametrize("price", ["95", "100", "104"])
def test_two_closing_orders_at_one_free_price_the_lower_slot_goes_first(price: str) -> None:
    # Slot 90 (+1) wants SELL 100, slot 110 (-1) wants BUY 100: net flat.
    st = state(Slot(level=D(90), inventory=D(1)), Slot(level=D(110), inventory=D(-1)))

    first = decide_at(st, price, config())
    place = next(a for a in first if isinstance(a, PlaceOrder) and a.closing)
    after = st.with_slot(
        order_slot("90", Side.SELL, "100", status=SlotStatus.PENDING, closing=True, inventory="1")
    )
    second = decide_at(after, price, config())

    assert closings(first) == [("90", "SELL", "100")]
    assert place.reduce_only is False
    assert closings(second) == []  # BUY 100 waits for the price to be free


@pytest.mark.parametrize(
    ("mode", "inventory", "price", "expected"),
    [
        # long: bought at 90, the price gapped up to 130; SELL 100 is placed anyway
        ("long", "1", "130", ("90", "SELL", "100")),
        # neutral: sold at 110, the price gapped down to 85; BUY 100 is placed anyway
        ("neutral", "-1", "85", ("110", "BUY", "100")),
    ],
)
def test_a_closing_order_the_market_has_passed_is_placed_anyway(
    mode: str, inventory: str, price: str, expected: tuple[str, str, str]
) -> None:
    level = expected[0]
    st = state(Slot(level=D(level), inventory=D(inventory)), position=inventory)

    actions = decide_at(st, price, config(mode, buy_levels=5, sell_levels=5))

    assert expected in closings(actions)


@pytest.mark.parametrize(
    ("interval", "tick", "expected"),
    [
        ("10", "0.01", "10"),
        ("10.004", "0.01", "10"),
        ("10.005", "0.01", "10.01"),  # halves go up
        ("0.004", "0.01", "0.01"),  # never below one tick
        ("7", "5", "5"),
        ("7.5", "5", "10"),
    ],
)
def test_interval_snaps_to_the_nearest_tick(interval: str, tick: str, expected: str) -> None:
    rules = SymbolRules(D(tick), D("0.001"), D(0), D(0))

    assert snapped_interval(config(interval=interval), rules) == D(expected)


@pytest.mark.parametrize(
    ("price", "tick", "expected"),
    [
        ("100.004", "0.01", "100"),
        ("100.005", "0.01", "100.01"),
        ("0.004", "0.01", "0.01"),  # never below one tick
        ("102", "5", "100"),
        ("102.5", "5", "105"),
    ],
)
def test_anchor_snaps_to_the_nearest_tick(price: str, tick: str, expected: str) -> None:
    anchored = with_anchor(GridState(symbol=SYMBOL), D(price), D(tick))

    assert anchored.anchor == D(expected)


@pytest.mark.parametrize(
    ("anchor", "ref", "count", "expected"),
    [
        ("100", "25", 5, ["20", "10"]),  # 0 and below are never quoted
        ("25", "22", 5, ["15", "5"]),
        ("100", "5", 3, []),
    ],
)
def test_no_buy_level_at_or_below_zero(
    anchor: str, ref: str, count: int, expected: list[str]
) -> None:
    assert buy_levels(D(anchor), D(10), D(ref), count) == [D(e) for e in expected]


def test_no_closing_buy_at_or_below_zero() -> None:
    st = GridState(
        symbol=SYMBOL,
        anchor=D(100),
        slots={"10": Slot(level=D(10), inventory=D(-1))},
        position=Position(qty=D(-1)),
    )

    actions = decide_at(st, "12", config(buy_levels=5))

    assert closings(actions) == []
    assert all(a.price > 0 for a in actions if isinstance(a, PlaceOrder))


def test_passed_orders_go_first_in_the_venue_matching_order() -> None:
    # At 100: BUY 110 (slot 120), SELL 80 (slot 70) and SELL 90 (slot 80) are all passed and
    # fill at once; a venue matches buys highest first, then sells lowest first.
    st = state(
        Slot(level=D(70), inventory=D(1)),
        Slot(level=D(80), inventory=D(1)),
        Slot(level=D(120), inventory=D(-1)),
        position="1",
    )

    actions = decide_at(st, "100", config())

    assert closings(actions) == [("120", "BUY", "110"), ("70", "SELL", "80"), ("80", "SELL", "90")]

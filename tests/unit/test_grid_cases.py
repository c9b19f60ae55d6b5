"""The spec's case table ("Worked examples" in docs/strategy.md), run through the case model.

The model (tests/props/model.py) fills reached orders at their own price (buys highest first,
then sells lowest first), fills crossed new orders at the price as takers, and lets the grid
decide again until nothing changes.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from mmtasks.grid.models import GridConfig, RiskConfig
from tests.props.model import GridModel

RISK = RiskConfig()


def grid_config(mode: str, **overrides: object) -> GridConfig:
    values: dict[str, object] = {
        "mode": mode,
        "interval": "10",
        "buy_levels": 2,
        "sell_levels": 2,
        "order_qty": "1",
    }
    values.update(overrides)
    return GridConfig.model_validate(values)


def run(mode: str, path: str, *, reduce_only: bool = False) -> GridModel:
    model = GridModel(grid_config(mode), reduce_only=reduce_only)
    for text in path.split():
        model.step(Decimal(text))
    return model


def as_list(text: str) -> list[str]:
    return [] if not text else [item.strip() for item in text.split(",")]


CASES = [
    # mode, price path, fills, resting after, cancelled, position, realized
    ("neutral", "100", "", "BUY 90, BUY 80, SELL 110, SELL 120", "", "0", "0"),
    ("long", "100", "", "BUY 90, BUY 80", "", "0", "0"),
    ("long", "100 96", "", "BUY 90, BUY 80", "", "0", "0"),
    ("long", "100 94", "", "BUY 90, BUY 80, BUY 70", "", "0", "0"),
    ("long", "100 89 95", "BUY 90", "BUY 80, BUY 70, SELL 100 closing", "", "1", "0"),
    ("long", "100 89 95 100", "BUY 90, SELL 100", "BUY 90, BUY 80, BUY 70", "", "0", "10"),
    (
        "long",
        "100 89 79 75",
        "BUY 90, BUY 80",
        "BUY 70, BUY 60, SELL 90 closing, SELL 100 closing",
        "",
        "2",
        "0",
    ),
    (
        "long",
        "100 89 79 75 69",
        "BUY 90, BUY 80, BUY 70",
        "BUY 60, BUY 50, SELL 80 closing, SELL 90 closing",
        "SELL 100",
        "3",
        "0",
    ),
    ("long", "100 111", "", "BUY 100, BUY 90", "BUY 80", "0", "0"),
    (
        "neutral",
        "100 111",
        "SELL 110",
        "BUY 100 closing, BUY 90, SELL 120, SELL 130",
        "BUY 80",
        "-1",
        "0",
    ),
    (
        "neutral",
        "100 111 95",
        "SELL 110, BUY 100",
        "BUY 90, BUY 80, SELL 100, SELL 110, SELL 120",
        "BUY 80, SELL 130",
        "0",
        "10",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_grid_md_cases(case: tuple[str, str, str, str, str, str, str]) -> None:
    mode, path, fills, resting, cancelled, position, realized = case

    model = run(mode, path)

    assert [str(f) for f in model.fills] == as_list(fills)
    assert all(f.maker for f in model.fills)
    assert model.resting() == sorted(as_list(resting))
    assert model.cancelled == as_list(cancelled)
    assert model.state.position.qty == Decimal(position)
    assert model.state.position.realized_pnl == Decimal(realized)


def test_reduce_only_from_the_start_places_nothing() -> None:
    model = run("long", "100", reduce_only=True)

    assert model.resting() == []
    assert model.state.position.qty == 0


LIMITS = [RISK, RiskConfig(max_open_orders=4, max_position=Decimal(3))]


@pytest.mark.parametrize("risk", LIMITS, ids=["no-limits", "limits"])
@pytest.mark.parametrize("mode", ["long", "neutral"])
@pytest.mark.parametrize("seed", range(8))
def test_random_walk_keeps_invariants(mode: str, seed: int, risk: RiskConfig) -> None:
    rng = random.Random(seed)
    model = GridModel(grid_config(mode, buy_levels=3, sell_levels=3), risk)
    price = Decimal(100)
    for _ in range(150):
        model.step(price)  # decides until a fixed point, or raises

        if risk.max_position is not None:
            assert abs(model.state.position.qty) <= risk.max_position
        prices = [s.price for s in model.orders()]
        assert len(prices) == len(set(prices)), "two of our orders at one price"
        held = sum((s.inventory for s in model.state.slots.values()), Decimal(0))
        assert held == model.state.position.qty
        if mode == "long":
            assert model.state.position.qty >= 0
        # Average-cost books agree with the cash: realized + unrealized = cash + position value.
        cash = sum(
            (f.price * f.qty if f.side.value == "SELL" else -f.price * f.qty for f in model.fills),
            Decimal(0),
        )
        position = model.state.position
        booked = position.realized_pnl + position.unrealized_pnl(price)
        assert abs(booked - (cash + position.qty * price)) < Decimal("1e-9")
        if all(s.inventory == 0 for s in model.state.slots.values()):
            # With every slot flat, each closed unit was one round trip earning one interval,
            # plus what a closing order crossed after a gap got beyond its limit price.
            closing = [f for f in model.fills if f.closing]
            units = sum((f.qty for f in closing), Decimal(0))
            better = sum(
                (
                    (f.price - f.order_price) * f.qty
                    if f.side.value == "SELL"
                    else (f.order_price - f.price) * f.qty
                    for f in closing
                ),
                Decimal(0),
            )
            assert position.realized_pnl == 10 * units + better
        price = max(Decimal(5), price + Decimal(rng.randint(-170, 170)) / 10)


# Further worked examples of docs/strategy.md, worked by hand; "@" marks a taker fill at the
# market price (an order the market had already passed when it was placed).
EXTRA_CASES = [
    # mode, levels (buy, sell), price path, fills, position, realized
    # 100: BUY 90, SELL 110 120 130. 70: BUY 90 fills; SELL 120 130 cancelled (above 70 + 4x10);
    # closing SELL 100 (slot 90); entries BUY 60, SELL 80 (90 holds inventory, 100 is taken).
    # 100: SELL 80 (closes the long bought at 90: -10), then SELL 100 (opens a short at 100).
    ("neutral", (1, 3), "100 70 100", "BUY 90, SELL 80, SELL 100", "-1", "-10"),
    # 65: BUY 90 80 70 fill (avg 80); only SELL 80 (slot 70) is within 65 + 2x10.
    # 105: SELL 80 fills (0); SELL 90 and SELL 100 are placed passed and fill @105 (+25 each).
    (
        "long",
        (3, 2),
        "100 65 105",
        "BUY 90, BUY 80, BUY 70, SELL 80, SELL 90@105, SELL 100@105",
        "0",
        "50",
    ),
    # 100: BUY 90, 80; SELL 110, 120, 130. 75: BUY 90, 80 fill (+2, avg 85); SELL 120, 130
    # cancelled (above 75 + 4x10); closings SELL 90 (slot 80), SELL 100 (slot 90); entries
    # BUY 70, 60 (the sells at 80, 90, 100 hold inventory or are taken). 115: sells lowest
    # first: SELL 90 (+5), SELL 100 (+15), SELL 110 opens a short at 110: the net position
    # goes +2 -> -1 through zero within one price.
    (
        "neutral",
        (2, 3),
        "100 75 115",
        "BUY 90, BUY 80, SELL 90, SELL 100, SELL 110",
        "-1",
        "20",
    ),
]


def _fill_text(fill: object) -> str:
    text = str(fill)
    return text if getattr(fill, "maker", True) else f"{text}@{fill.price}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", EXTRA_CASES, ids=[f"{c[0]}:{c[2]}" for c in EXTRA_CASES])
def test_further_worked_examples(
    case: tuple[str, tuple[int, int], str, str, str, str],
) -> None:
    mode, (buys, sells), path, fills, position, realized = case
    model = GridModel(grid_config(mode, buy_levels=buys, sell_levels=sells))

    for text in path.split():
        model.step(Decimal(text))

    assert [_fill_text(f) for f in model.fills] == as_list(fills)
    assert model.state.position.qty == Decimal(position)
    assert model.state.position.realized_pnl == Decimal(realized)

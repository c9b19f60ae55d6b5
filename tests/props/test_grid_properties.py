"""Properties of the grid core on random price paths, both modes, through the case model.

Each example draws a config, risk limits and a price path (small moves and gaps), runs it
through `GridModel` (tests/props/model.py) and checks:

- a price never carries two of our orders (also checked inside the model on every decision,
  counting orders still being cancelled);
- the cancel window never cancels what the previous evaluation placed, on the same price or
  after a move of less than half an interval;
- slot inventories sum to the position after every price;
- realized PnL and fees equal an independent average-cost fold over the same fills in venue
  order (exact fractions here; the core rounds a partial close's cost share to 1e-12);
- every price reaches a fixed point (the model raises otherwise).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from mmtasks.domain import Side
from mmtasks.grid.logic import REASON_WINDOW
from mmtasks.grid.models import CancelOrder, GridConfig, PlaceOrder, RiskConfig
from tests.props.model import Fill, GridModel

D = Decimal
MAKER_FEE = D("0.0002")
TAKER_FEE = D("0.0004")


@st.composite
def grid_configs(draw: st.DrawFn) -> GridConfig:
    return GridConfig.model_validate(
        {
            "mode": draw(st.sampled_from(["long", "neutral"])),
            "interval": draw(st.sampled_from(["10", "7.5", "2.5", "25"])),
            "buy_levels": draw(st.integers(1, 4)),
            "sell_levels": draw(st.integers(1, 4)),
            "order_qty": draw(st.sampled_from(["1", "0.5", "0.3"])),
            "inventory_skew": draw(st.sampled_from(["0", "0", "0", "0.01"])),
        }
    )


@st.composite
def risk_configs(draw: st.DrawFn) -> RiskConfig:
    return RiskConfig(
        max_position=draw(st.sampled_from([None, D(2), D("3.5")])),
        max_open_orders=draw(st.sampled_from([None, 2, 5, 8])),
    )


@st.composite
def price_paths(draw: st.DrawFn) -> list[Decimal]:
    """Return a path in quarter units: mostly moves within a few intervals, some large gaps."""
    quarter = draw(st.integers(200, 800))  # 50 .. 200
    path = [quarter]
    moves = draw(
        st.lists(
            st.one_of(st.integers(-80, 80), st.integers(-400, 400)),
            min_size=1,
            max_size=25,
        )
    )
    for move in moves:
        quarter = max(4, quarter + move)  # never below 1
        path.append(quarter)
    return [D(q) / 4 for q in path]


def run(config: GridConfig, risk: RiskConfig, path: list[Decimal]) -> GridModel:
    model = GridModel(config, risk, maker_fee_rate=MAKER_FEE, taker_fee_rate=TAKER_FEE)
    for price in path:
        model.step(price)
        held = sum((s.inventory for s in model.state.slots.values()), D(0))
        assert held == model.state.position.qty, f"slots hold {held} at {price}"
        prices = [s.price for s in model.orders()]
        assert len(prices) == len(set(prices)), f"two of our orders at one price: {prices}"
    return model


def average_cost_fold(fills: list[Fill]) -> tuple[Fraction, Fraction, Fraction]:
    """Return (position, realized PnL, fees) of fills by average cost, written from scratch."""
    qty = avg = realized = fees = Fraction(0)
    for fill in fills:
        size, price = Fraction(fill.qty), Fraction(fill.price)
        fees += Fraction(fill.fee)
        signed = size if fill.side is Side.BUY else -size
        if qty == 0 or (qty > 0) == (signed > 0):
            avg = (avg * abs(qty) + price * size) / (abs(qty) + size)
            qty += signed
            continue
        closed = min(abs(qty), size)
        realized += (price - avg) * closed if qty > 0 else (avg - price) * closed
        before, qty = qty, qty + signed
        if qty == 0:
            avg = Fraction(0)
        elif (qty > 0) != (before > 0):
            avg = price  # flipped: the rest was opened by this fill
    return qty, realized, fees


@given(config=grid_configs(), risk=risk_configs(), path=price_paths())
def test_a_price_never_carries_two_orders_and_slots_sum_to_the_position(
    config: GridConfig, risk: RiskConfig, path: list[Decimal]
) -> None:
    model = run(config, risk, path)

    if config.mode == "long":
        assert model.state.position.qty >= 0
    if risk.max_position is not None:
        assert abs(model.state.position.qty) <= risk.max_position


@given(config=grid_configs(), risk=risk_configs(), path=price_paths())
def test_the_cancel_window_never_cancels_what_the_previous_evaluation_placed(
    config: GridConfig, risk: RiskConfig, path: list[Decimal]
) -> None:
    config = config.model_copy(update={"inventory_skew": D(0)})  # the window follows the price

    model = run(config, risk, path)

    interval = config.interval
    for before, after in zip(model.evaluations, model.evaluations[1:], strict=False):
        if abs(after.price - before.price) >= interval / 2:
            continue
        placed = {a.client_order_id for a in before.actions if isinstance(a, PlaceOrder)}
        cancelled = {
            a.client_order_id
            for a in after.actions
            if isinstance(a, CancelOrder) and a.reason == REASON_WINDOW
        }
        assert not placed & cancelled, f"placed at {before.price}, cancelled at {after.price}"


@given(config=grid_configs(), risk=risk_configs(), path=price_paths())
def test_realized_pnl_equals_an_independent_average_cost_fold_in_venue_order(
    config: GridConfig, risk: RiskConfig, path: list[Decimal]
) -> None:
    model = run(config, risk, path)

    qty, realized, fees = average_cost_fold(model.fills)
    position = model.state.position
    assert Fraction(position.qty) == qty
    assert abs(Fraction(position.realized_pnl) - realized) <= Fraction(1, 10**9)
    assert Fraction(position.fees) == fees


def test_the_fold_itself_on_a_hand_worked_flip() -> None:
    # Buy 2 at 85 avg, sell 1 at 90 (+5), sell 2 at 100: +15 on the last long unit, then short 1.
    def fill(side: Side, price: str, qty: str) -> Fill:
        return Fill("t", D(0), side, D(price), D(price), D(qty), True, False, D(0))

    fills = [
        fill(Side.BUY, "90", "1"),
        fill(Side.BUY, "80", "1"),
        fill(Side.SELL, "90", "1"),
        fill(Side.SELL, "100", "2"),
    ]

    assert average_cost_fold(fills) == (Fraction(-1), Fraction(20), Fraction(0))

"""The circuit breaker's quiet prices (risk/breaker.py `quiet_prices`): where the drawdown limit
neither trips nor raises the symbol's high-water mark, so the worker's quiet band may include
them and a breaker-armed symbol is no longer woken by every tick.

Worked out by hand from the breaker's rule (equity = realized - fees + (p - avg_cost) x qty;
it trips when mark - equity > max_drawdown_quote; the mark rises when equity exceeds it)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from mmtasks.grid.models import Position, RiskConfig
from mmtasks.risk.breaker import check_breaker, quiet_prices, symbol_equity

D = Decimal
ARMED = RiskConfig(max_drawdown_quote=D(5))


def calm(risk: RiskConfig, position: Position, price: Decimal, mark: Decimal) -> bool:
    check = check_breaker(risk, symbol_equity(position, price), mark, 0)
    return check.tripped is None and check.high_water == mark


def test_a_long_position_is_quiet_from_the_limit_up_to_the_mark() -> None:
    # 2 long at 100, realized 10, fees 1: equity(p) = 9 + 2 (p - 100). Mark 20, limit 5:
    # equity 15 at 103 (drawdown 5: no trip), equity 20 at 105.5 (the mark: not raised).
    position = Position(qty=D(2), avg_cost=D(100), realized_pnl=D(10), fees=D(1))
    assert quiet_prices(ARMED, position, D(20), D("0.1")) == (D(103), D("105.5"))
    assert not calm(ARMED, position, D("102.9"), D(20))  # drawdown 5.2: trips
    assert not calm(ARMED, position, D("105.6"), D(20))  # equity 20.2: a new mark


def test_a_short_position_is_quiet_from_the_mark_up_to_the_limit() -> None:
    # 3 short at 50, nothing realized: equity(p) = -3 (p - 50). Mark 1.5 (reached at 49.5),
    # limit 5: equity -3.5 at 51.1666..., rounded in to the tick 0.01: 51.16.
    position = Position(qty=D(-3), avg_cost=D(50))
    lo, hi = quiet_prices(ARMED, position, D("1.5"), D("0.01")) or (None, None)
    assert (lo, hi) == (D("49.5"), D("51.16"))
    assert calm(ARMED, position, D("51.16"), D("1.5"))
    assert not calm(ARMED, position, D("51.17"), D("1.5"))


def test_flat_unarmed_unmarked_and_beyond_the_limit() -> None:
    flat = Position(realized_pnl=D(4))
    assert quiet_prices(ARMED, flat, D(6), D("0.1")) == (None, None)  # equity 4, drawdown 2
    assert quiet_prices(ARMED, flat, D(10), D("0.1")) is None  # drawdown 6: it trips anyway
    assert quiet_prices(ARMED, flat, D(3), D("0.1")) is None  # equity 4 raises the mark
    assert quiet_prices(RiskConfig(), flat, None, D("0.1")) == (None, None)  # not armed
    assert quiet_prices(ARMED, Position(qty=D(1)), None, D("0.1")) is None  # no mark yet


def test_a_losing_streak_alone_keeps_the_mark_and_bounds_only_that_side() -> None:
    # The streak moves with fills, not prices; but an armed breaker keeps its mark whichever
    # limit arms it, so equity past the mark raises it. 1 long at 100: the mark 3 is at 103.
    streak_only = RiskConfig(max_losing_closes=3)
    position = Position(qty=D(1), avg_cost=D(100))
    assert quiet_prices(streak_only, position, D(3), D("0.1")) == (None, D(103))
    assert quiet_prices(streak_only, Position(qty=D(-1), avg_cost=D(100)), D(3), D("0.1")) == (
        D(97),
        None,
    )
    assert not calm(streak_only, position, D("103.1"), D(3))
    assert calm(streak_only, position, D(1), D(3))  # far below: no drawdown limit to trip


prices = st.decimals(min_value=D("0.01"), max_value=D(100000), places=2)


@settings(max_examples=300, deadline=None)
@given(
    qty=st.decimals(min_value=D(-50), max_value=D(50), places=3).filter(lambda q: q != 0),
    cost=prices,
    realized=st.decimals(min_value=D(-1000), max_value=D(1000), places=4),
    fees=st.decimals(min_value=D(0), max_value=D(10), places=6),
    drawdown=st.decimals(min_value=D(0), max_value=D(500), places=3),
    limit=st.decimals(min_value=D("0.001"), max_value=D(500), places=3),
    tick=st.sampled_from([D("0.01"), D("0.5"), D("0.0001"), D(1)]),
    offsets=st.lists(st.integers(min_value=-3, max_value=3), min_size=1, max_size=6),
)
def test_every_tick_inside_is_calm_and_the_ticks_beyond_are_not(
    qty: Decimal,
    cost: Decimal,
    realized: Decimal,
    fees: Decimal,
    drawdown: Decimal,
    limit: Decimal,
    tick: Decimal,
    offsets: list[int],
) -> None:
    position = Position(qty=qty, avg_cost=cost, realized_pnl=realized, fees=fees)
    risk = RiskConfig(max_drawdown_quote=limit)
    # A mark the symbol reached: its equity at some price, drawdown below it.
    mark = symbol_equity(position, cost) + drawdown
    found = quiet_prices(risk, position, mark, tick)
    if drawdown <= limit and limit / abs(qty) >= tick:  # calm prices, a tick multiple among them
        assert found is not None
    if found is None:  # no price is calm (the drawdown is past the limit, or none on the grid)
        return
    lo, hi = found
    assert lo is not None and hi is not None and lo <= hi
    for n in offsets:  # the ends, and the ticks around them that lie between them
        for end in (lo, hi):
            price = end + n * tick
            if lo <= price <= hi:
                assert calm(risk, position, price, mark), (price, found)
    assert not calm(risk, position, lo - tick, mark)
    assert not calm(risk, position, hi + tick, mark)

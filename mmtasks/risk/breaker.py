"""The per-symbol circuit breaker: drawdown from the symbol's own high-water mark, losing streak.

Pure: the step hands in the symbol's position, mark and what it remembers (state hash fields
`equity_hwm`, `losing_streak`, `breaker`) and writes back what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from mmtasks.decimals import ZERO, canon
from mmtasks.grid.config import RiskConfig
from mmtasks.grid.models import Position


def symbol_equity(position: Position, mark: Decimal | None) -> Decimal:
    """Return realized - fees + unrealized (at mark) of one symbol."""
    unrealized = ZERO if mark is None else (mark - position.avg_cost) * position.qty
    return position.realized_pnl - position.fees + unrealized


def losing_streak(streak: int, realized_before: Decimal, realized_after: Decimal) -> int:
    """Return the count of losing closes in a row after one fill (a win resets it)."""
    if realized_after < realized_before:
        return streak + 1
    if realized_after > realized_before:
        return 0
    return streak


@dataclass(frozen=True)
class BreakerCheck:
    """The new high-water mark and, when the breaker trips, why (limit, figure, threshold)."""

    high_water: Decimal
    tripped: tuple[str, str, str] | None = None


def check_breaker(
    risk: RiskConfig, equity: Decimal, high_water: Decimal | None, streak: int
) -> BreakerCheck:
    """Return the raised high-water mark and the first limit equity or streak breaks."""
    hwm = equity if high_water is None else max(high_water, equity)
    drawdown = hwm - equity
    if risk.max_drawdown_quote is not None and drawdown > risk.max_drawdown_quote:
        return BreakerCheck(
            hwm, ("max_drawdown_quote", canon(drawdown), canon(risk.max_drawdown_quote))
        )
    if risk.max_losing_closes is not None and streak >= risk.max_losing_closes:
        return BreakerCheck(hwm, ("max_losing_closes", str(streak), str(risk.max_losing_closes)))
    return BreakerCheck(hwm)


Prices = tuple[Decimal | None, Decimal | None]  # (lo, hi), None: unbounded


def quiet_prices(
    risk: RiskConfig, position: Position, high_water: Decimal | None, tick_size: Decimal
) -> Prices | None:
    """Return the prices, on the tick grid, at which an armed circuit breaker decides what it
    decides now: nothing trips and the high-water mark stays; None when no such prices are
    known (no mark yet, or none of them is calm).

    Any price p with lo <= p <= hi qualifies (the worker's quiet band takes the open interval
    inside it). Between fills the position is fixed, so equity is linear in the price:
    realized - fees + (p - avg_cost) x qty. An armed breaker (either limit) raises its mark
    wherever equity(p) > high_water, and `max_drawdown_quote` trips wherever
    equity(p) < high_water - max_drawdown_quote (a drawdown equal to the limit does not trip,
    an equity equal to the mark does not raise it). Each end is that equation solved for p,
    rounded to the tick inwards, then checked with `check_breaker` itself and moved one tick
    further in if the rounding of Decimal arithmetic disagrees (equity is monotone in p, so the
    ends hold for every price between). A losing streak moves only with fills, and a tripped
    breaker is not checked again: neither bounds the price.
    """
    limit = risk.max_drawdown_quote
    if limit is None and risk.max_losing_closes is None:
        return None, None  # not armed: no mark is kept
    if high_water is None:
        return None  # the next step sets the mark, whatever the price
    base = position.realized_pnl - position.fees
    if position.qty == 0:
        return (None, None) if _calm(risk, base, high_water) else None
    qty, cost = position.qty, position.avg_cost
    at_mark: Decimal | None = cost + (high_water - base) / qty
    at_limit = None if limit is None else cost + (high_water - limit - base) / qty
    lo, hi = (at_limit, at_mark) if qty > 0 else (at_mark, at_limit)
    if lo is not None:
        lo = (lo / tick_size).to_integral_value(rounding=ROUND_CEILING) * tick_size
    if hi is not None:
        hi = (hi / tick_size).to_integral_value(rounding=ROUND_FLOOR) * tick_size
    for _ in range(2):
        if lo is not None and not _calm(risk, symbol_equity(position, lo), high_water):
            lo += tick_size
        if hi is not None and not _calm(risk, symbol_equity(position, hi), high_water):
            hi -= tick_size
    ends_calm = all(
        _calm(risk, symbol_equity(position, end), high_water) for end in (lo, hi) if end is not None
    )
    if not ends_calm or (lo is not None and hi is not None and hi < lo):
        return None
    return lo, hi


def _calm(risk: RiskConfig, equity: Decimal, high_water: Decimal) -> bool:
    check = check_breaker(risk, equity, high_water, 0)
    return check.tripped is None and check.high_water == high_water

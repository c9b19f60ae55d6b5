"""The per-symbol circuit breaker: drawdown from the symbol's own high-water mark, losing streak.

Pure: the step hands in the symbol's position, mark and what it remembers (state hash fields
`equity_hwm`, `losing_streak`, `breaker`) and writes back what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

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

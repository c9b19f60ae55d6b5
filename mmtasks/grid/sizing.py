"""Order sizes and price snapping under the venue's rules."""

from __future__ import annotations

from decimal import Decimal

from mmtasks.decimals import snap_down, snap_nearest
from mmtasks.grid.config import GridConfig, SymbolRules


def snap_price(price: Decimal, rules: SymbolRules) -> Decimal:
    """Return price rounded to the nearest tick."""
    return snap_nearest(price, rules.tick_size)


def snap_qty(qty: Decimal, rules: SymbolRules) -> Decimal:
    """Return qty rounded down to the step size (never sell or buy more than meant)."""
    return snap_down(qty, rules.step_size)


def meets_minimums(qty: Decimal, price: Decimal, rules: SymbolRules) -> bool:
    """Return True when an order of qty at price may be sent (min quantity and min notional)."""
    return qty > 0 and qty >= rules.min_qty and qty * price >= rules.min_notional


def order_qty_for(config: GridConfig, rules: SymbolRules, price: Decimal) -> Decimal | None:
    """Return the entry size at price snapped down to the step, or None if under the minimums."""
    if config.order_qty is not None:
        raw = config.order_qty
    elif config.order_notional is not None and price > 0:
        raw = config.order_notional / price
    else:
        return None
    qty = snap_qty(raw, rules)
    return qty if meets_minimums(qty, price, rules) else None


def closing_qty_for(inventory: Decimal, rules: SymbolRules, price: Decimal) -> Decimal | None:
    """Return the size that closes inventory at price, or None if under the minimums."""
    qty = snap_qty(abs(inventory), rules)
    return qty if meets_minimums(qty, price, rules) else None

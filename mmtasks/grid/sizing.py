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
        qty = _snapped_order_qty(config.order_qty, rules.step_size)
    elif config.order_notional is not None and price > 0:
        qty = snap_qty(config.order_notional / price, rules)
    else:
        return None
    return qty if meets_minimums(qty, price, rules) else None


class _LastSnap:
    """The last order_qty snapped to a step size: the same for every entry of a config.

    Held and compared by identity (the snapped text follows the inputs' own, so equal values
    spelled differently do not share it); one tuple, replaced in one assignment.
    """

    entry: tuple[Decimal, Decimal, Decimal] | None = None


def _snapped_order_qty(order_qty: Decimal, step_size: Decimal) -> Decimal:
    last = _LastSnap.entry
    if last is not None and last[0] is order_qty and last[1] is step_size:
        return last[2]
    qty = snap_down(order_qty, step_size)
    _LastSnap.entry = (order_qty, step_size, qty)
    return qty


def closing_qty_for(inventory: Decimal, rules: SymbolRules, price: Decimal) -> Decimal | None:
    """Return the size that closes inventory at price, or None if under the minimums."""
    qty = snap_qty(abs(inventory), rules)
    return qty if meets_minimums(qty, price, rules) else None

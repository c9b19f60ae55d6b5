"""Why a valid config may still quote nothing at a price: the reason `status` shows."""

from __future__ import annotations

from decimal import Decimal

from mmtasks.decimals import canon
from mmtasks.domain import Side
from mmtasks.grid.config import GridConfig, RiskConfig, SymbolRules, snapped_interval
from mmtasks.grid.logic import buy_levels, sell_levels
from mmtasks.grid.sizing import order_qty_for, snap_price, snap_qty


def no_quote_reason(
    config: GridConfig,
    risk: RiskConfig,
    rules: SymbolRules,
    price: Decimal,
    *,
    anchor: Decimal | None = None,
) -> str | None:
    """Return "no quotable level: ..." when a flat grid would place no entry at price, else None.

    It looks at the entry candidates the decision would use (the anchor defaults to the price
    snapped to the tick, as for a new symbol), their sizes under the venue's minimums, and
    max_position. Reduce-only, stale prices and the fleet state are reported elsewhere.
    """
    if not price.is_finite() or price <= 0:
        return f"no quotable level: price must be > 0, received {price}"
    interval = snapped_interval(config, rules)
    base = anchor if anchor is not None else max(snap_price(price, rules), rules.tick_size)
    candidates = [(Side.BUY, lvl) for lvl in buy_levels(base, interval, price, config.buy_levels)]
    if config.mode == "neutral":
        sells = sell_levels(base, interval, price, config.sell_levels)
        candidates += [(Side.SELL, level) for level in sells]
    if not candidates:
        return (
            f"no quotable level: every buy level is at or below zero (price {canon(price)}, "
            f"interval {canon(interval)}, buy_levels {config.buy_levels}); "
            f"interval must be <= price / (buy_levels + 1)"
        )
    sized = [(side, level, order_qty_for(config, rules, level)) for side, level in candidates]
    quotable = [(side, level, qty) for side, level, qty in sized if qty is not None]
    if not quotable:
        nearest = sized[0][1]
        return f"no quotable level: {_under_minimums(config, rules, nearest)}"
    if risk.max_position is not None:
        smallest = min(qty for _, _, qty in quotable)
        if smallest > risk.max_position:
            return (
                f"no quotable level: max_position {canon(risk.max_position)} is below one "
                f"order ({canon(smallest)}), so no entry may be placed"
            )
    return None


def _under_minimums(config: GridConfig, rules: SymbolRules, level: Decimal) -> str:
    if config.order_qty is not None:
        raw, size = config.order_qty, f"order_qty {canon(config.order_qty)}"
    else:
        assert config.order_notional is not None
        raw = config.order_notional / level
        size = f"order_notional {canon(config.order_notional)} / {canon(level)}"
    qty = snap_qty(raw, rules)
    return (
        f"the order size is under the venue minimums at every level (nearest level "
        f"{canon(level)}: {size} snaps to {canon(qty)} on step {canon(rules.step_size)}, "
        f"notional {canon(qty * level)}; min_qty {canon(rules.min_qty)}, "
        f"min_notional {canon(rules.min_notional)})"
    )

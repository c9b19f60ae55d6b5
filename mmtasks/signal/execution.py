"""The execution stage: the orders of a trade, as the grid's PlaceOrder / CancelOrder.

The venue (proto `OrderType`) has limit and market orders but no stop orders, so the protective
stop is held in the state and watched on every price; when reached, the exit goes out as a
marketable limit: `slippage_pct` through the price, reduce-only, never post-only, so it fills at
once at the market like a stop-market would, but never further than the slippage from the
trigger price. Entries go out the same way. The take-profit rests at the venue as a reduce-only
limit. Client ids are the grid's (`ids.client_order_id`) with the order price as the level and
generation = 4 x trade number + role, so every id is unique, parseable and carries our prefix.
"""

from __future__ import annotations

from decimal import Decimal

from mmtasks.domain import Side
from mmtasks.grid.actions import CancelOrder, PlaceOrder
from mmtasks.grid.config import SymbolRules
from mmtasks.grid.ids import client_order_id
from mmtasks.grid.sizing import meets_minimums, snap_price, snap_qty
from mmtasks.signal.config import SignalConfig
from mmtasks.signal.state import ROLES, Role, WorkingOrder


def entry_qty(config: SignalConfig, rules: SymbolRules, price: Decimal) -> Decimal | None:
    """Return the entry size at price snapped down to the step, or None under the minimums."""
    raw = config.order_qty if config.order_qty is not None else None
    if raw is None and config.order_notional is not None and price > 0:
        raw = config.order_notional / price
    if raw is None:
        return None
    qty = snap_qty(raw, rules)
    return qty if meets_minimums(qty, price, rules) else None


def marketable_price(
    side: Side, price: Decimal, config: SignalConfig, rules: SymbolRules
) -> Decimal:
    """Return a limit price `slippage_pct` through price (above for a buy), on the tick."""
    factor = 1 + config.slippage_pct if side is Side.BUY else 1 - config.slippage_pct
    return max(snap_price(price * factor, rules), rules.tick_size)


def bracket(
    side: Side, entry: Decimal, atr: Decimal | None, config: SignalConfig, rules: SymbolRules
) -> tuple[Decimal, Decimal]:
    """Return (stop, take-profit) prices around the entry price, on the tick.

    Long: stop = entry - stop distance, take-profit = entry + profit distance; short mirrored.
    A distance is `stop_atr` x ATR or `stop_pct` x entry (likewise for the take-profit).
    """
    stop_distance = _distance(entry, atr, config.stop_atr, config.stop_pct)
    profit_distance = _distance(entry, atr, config.take_profit_atr, config.take_profit_pct)
    sign = 1 if side is Side.BUY else -1
    stop = max(snap_price(entry - sign * stop_distance, rules), rules.tick_size)
    profit = max(snap_price(entry + sign * profit_distance, rules), rules.tick_size)
    return stop, profit


def _distance(
    entry: Decimal, atr: Decimal | None, multiple: Decimal | None, pct: Decimal | None
) -> Decimal:
    if multiple is not None:
        if atr is None:  # the config guarantees ATR is warm by min_rows_required
            raise ValueError("ATR is unknown: a bracket from ATR needs a warm ATR")
        return multiple * atr
    assert pct is not None
    return pct * entry


def place(
    symbol: str, role: Role, side: Side, price: Decimal, qty: Decimal, trade_no: int
) -> tuple[PlaceOrder, WorkingOrder]:
    """Return the order to place for role and the working order the state keeps."""
    generation = len(ROLES) * trade_no + ROLES.index(role)
    cid = client_order_id(symbol, price, side, generation)
    action = PlaceOrder(
        symbol=symbol,
        level=price,
        side=side,
        price=price,
        qty=qty,
        client_order_id=cid,
        post_only=False,
        reduce_only=role is not Role.ENTRY,
        closing=role is not Role.ENTRY,
        generation=generation,
    )
    return action, WorkingOrder(role, side, price, qty, cid)


def cancel(symbol: str, order: WorkingOrder, reason: str) -> CancelOrder:
    """Return the cancel of a working order."""
    return CancelOrder(
        symbol=symbol,
        level=order.price,
        client_order_id=order.client_order_id,
        venue_order_id=order.venue_order_id,
        reason=reason,
    )

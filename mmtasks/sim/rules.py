"""Symbol rules of the simulated exchange: built-in defaults and the checks every order passes."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from mmtasks.decimals import canon, is_multiple
from mmtasks.domain import Side, parse_symbol
from mmtasks.errors import ValidationError
from mmtasks.sim.models import SimSymbolRules
from mmtasks.venue.types import OrderRequest, OrderType, SymbolRules

D = Decimal

# Longest suffix first so "BTCUSDT" splits as BTC/USDT, not BTCUSD/T.
QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "BTC", "ETH", "BNB")
DEFAULT_QUOTE = "USDT"


def split_symbol(symbol: str) -> tuple[str, str]:
    """Return (base, quote) of a symbol; a symbol with no known quote suffix is quoted in USDT."""
    for quote in QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol, DEFAULT_QUOTE


def _cent_ticked(symbol: str, step: str, min_notional: int, start_price: int) -> SimSymbolRules:
    """Return the rules of a symbol priced in cents whose least quantity is one step."""
    base, quote = split_symbol(symbol)
    return SimSymbolRules(
        symbol=symbol,
        base_asset=base,
        quote_asset=quote,
        tick_size=D("0.01"),
        step_size=D(step),
        min_qty=D(step),
        min_notional=D(min_notional),
        start_price=D(start_price),
    )


BUILTIN_RULES: dict[str, SimSymbolRules] = {
    "BTCUSDT": _cent_ticked("BTCUSDT", "0.00001", min_notional=5, start_price=30000),
    "ETHUSDT": _cent_ticked("ETHUSDT", "0.0001", min_notional=5, start_price=2000),
}


def rules_for(symbol: str, start_price: Decimal | None = None) -> SimSymbolRules:
    """Return the built-in rules of a symbol, generic ones for any other valid name."""
    name = parse_symbol(symbol)
    rules = BUILTIN_RULES.get(name)
    if rules is None:
        rules = _cent_ticked(name, "0.001", min_notional=1, start_price=100)
    if start_price is not None:
        check_price(rules, start_price, "start price")
        rules = replace(rules, start_price=start_price)
    return rules


def _check_multiple(value: Decimal, unit: Decimal, field: str, unit_name: str, symbol: str) -> None:
    """Raise ValidationError unless value is > 0 and a multiple of unit."""
    if value <= 0:
        raise ValidationError(f"{field} must be > 0, received {canon(value)}")
    if not is_multiple(value, unit):
        raise ValidationError(
            f"{field} {canon(value)} is not a multiple of {unit_name} {canon(unit)} for {symbol}"
        )


def check_price(rules: SymbolRules, price: Decimal, field: str = "price") -> None:
    """Raise ValidationError unless price is > 0 and a multiple of the tick size."""
    _check_multiple(price, rules.tick_size, field, "tick size", rules.symbol)


def check_quantity(rules: SymbolRules, quantity: Decimal) -> None:
    """Raise ValidationError unless quantity is >= min qty and a multiple of the step size."""
    _check_multiple(quantity, rules.step_size, "quantity", "step size", rules.symbol)
    if quantity < rules.min_qty:
        raise ValidationError(
            f"quantity {canon(quantity)} is below min qty {canon(rules.min_qty)} for {rules.symbol}"
        )


def check_notional(rules: SymbolRules, price: Decimal, quantity: Decimal) -> None:
    """Raise ValidationError when price x quantity is below the symbol's min notional."""
    notional = price * quantity
    if notional < rules.min_notional:
        raise ValidationError(
            f"notional {canon(notional)} (price {canon(price)} x quantity {canon(quantity)}) "
            f"is below min notional {canon(rules.min_notional)} for {rules.symbol}"
        )


def check_order(rules: SymbolRules, cmd: OrderRequest, last: Decimal) -> Decimal:
    """Validate an order against the rules; return its price (0 for a market order)."""
    check_quantity(rules, cmd.quantity)
    if cmd.order_type is OrderType.MARKET:
        if cmd.post_only:
            raise ValidationError("post_only needs a LIMIT order, received a MARKET order")
        check_notional(rules, last, cmd.quantity)
        return D(0)
    if cmd.price is None:
        raise ValidationError("price is required for a LIMIT order, received none")
    check_price(rules, cmd.price)
    check_notional(rules, cmd.price, cmd.quantity)
    return cmd.price


def is_marketable(request: OrderRequest, price: Decimal, last: Decimal) -> bool:
    """Return whether an order at price trades at once against the last price."""
    return request.order_type is OrderType.MARKET or (
        price >= last if request.side is Side.BUY else price <= last
    )


def rejection_reason(
    symbol: str, request: OrderRequest, price: Decimal, *, last: Decimal, position: Decimal
) -> str:
    """Return why the venue rejects a well-formed order, or "" when it accepts it."""
    side, quantity = request.side, request.quantity
    if request.post_only and is_marketable(request, price, last):
        relation = ">=" if side is Side.BUY else "<="
        return (
            f"post-only {side} at {canon(price)} would cross: {relation} last price {canon(last)}"
        )
    if request.reduce_only:
        reduces = (position > 0 and side is Side.SELL) or (position < 0 and side is Side.BUY)
        if not reduces:
            return f"reduce-only {side} would increase the position ({canon(position)} {symbol})"
        if quantity > abs(position):
            return (
                f"reduce-only {side} of {canon(quantity)} would flip the position "
                f"({canon(position)} {symbol})"
            )
    return ""

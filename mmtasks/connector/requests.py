"""Validation of wire requests into sim commands: every bad field named with what was received."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mmtasks.connector.convert import SIDE_FROM_PB, TIF_FROM_PB, TYPE_FROM_PB
from mmtasks.decimals import parse_decimal
from mmtasks.domain import parse_symbol
from mmtasks.errors import ValidationError
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.sim.models import OrderType, PlaceOrder

MAX_BATCH = 1000
MAX_KLINES = 1000


def _enum_name(enum: Any, value: int) -> str:
    try:
        return str(enum.Name(value))
    except ValueError:
        return str(value)


def require_symbol(value: str, field: str = "symbol") -> str:
    """Return the symbol in upper case or raise ValidationError when missing or malformed."""
    if not value:
        raise ValidationError(f"{field} is required, received ''")
    return parse_symbol(value)


def optional_symbol(value: str) -> str:
    """Return '' (every symbol) or the validated symbol."""
    return parse_symbol(value) if value else ""


def require_order_ref(order_id: str, client_order_id: str) -> None:
    """Raise ValidationError unless an order id or a client order id is given."""
    if not order_id and not client_order_id:
        raise ValidationError("order_id or client_order_id is required, received neither")


def place_order_command(req: pb.PlaceOrderRequest) -> PlaceOrder:
    """Return the command of a request; raise ValidationError naming the first bad field."""
    symbol = require_symbol(req.symbol)
    side = SIDE_FROM_PB.get(req.side)
    if side is None:
        raise ValidationError(
            f"side must be SIDE_BUY or SIDE_SELL, received {_enum_name(pb.Side, req.side)}"
        )
    order_type = TYPE_FROM_PB.get(req.type)
    if order_type is None:
        raise ValidationError(
            "type must be ORDER_TYPE_LIMIT or ORDER_TYPE_MARKET, "
            f"received {_enum_name(pb.OrderType, req.type)}"
        )
    tif = TIF_FROM_PB.get(req.time_in_force)
    if tif is None:
        raise ValidationError(
            "time_in_force must be TIME_IN_FORCE_GTC or TIME_IN_FORCE_IOC, "
            f"received {_enum_name(pb.TimeInForce, req.time_in_force)}"
        )
    quantity = parse_decimal(req.quantity, "quantity", positive=True)
    price: Decimal | None = None
    if order_type is OrderType.LIMIT:
        price = parse_decimal(req.price, "price", positive=True)
    elif req.price not in ("", "0"):
        raise ValidationError(f"price must be empty for a MARKET order, received {req.price!r}")
    return PlaceOrder(
        symbol=symbol,
        side=side,
        quantity=quantity,
        price=price,
        client_order_id=req.client_order_id,
        order_type=order_type,
        time_in_force=tif,
        post_only=req.post_only,
        reduce_only=req.reduce_only,
    )


def kline_limit(limit: int) -> int:
    """Return the number of candles to answer: 100 by default, at most MAX_KLINES."""
    if limit < 0 or limit > MAX_KLINES:
        raise ValidationError(f"limit must be 0..{MAX_KLINES} (0: 100), received {limit}")
    return limit or 100


def trades_limit(limit: int) -> int:
    """Return the number of trades to answer: 1000 by default."""
    if limit < 0:
        raise ValidationError(f"limit must be >= 0 (0: 1000), received {limit}")
    return limit or 1000


def batch_size(items: int, field: str = "orders") -> None:
    """Raise ValidationError for an empty batch or one over MAX_BATCH items."""
    if not 1 <= items <= MAX_BATCH:
        raise ValidationError(f"{field} must hold 1..{MAX_BATCH} items, received {items}")


def optional_decimal(value: str, field: str) -> Decimal | None:
    """Return None for '' or the value as a Decimal > 0."""
    return parse_decimal(value, field, positive=True) if value else None

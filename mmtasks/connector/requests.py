"""Validation of wire request fields: every bad field named with what was received.

An order request is decoded and checked by the codec (`venue.codec.request_from_pb`)."""

from __future__ import annotations

from decimal import Decimal

from mmtasks.decimals import parse_decimal
from mmtasks.domain import parse_symbol
from mmtasks.errors import ValidationError

MAX_BATCH = 1000
MAX_KLINES = 1000


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

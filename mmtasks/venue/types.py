"""The venue's words: frozen orders, trades, positions, rules, ticks and candles, Decimal money.

Every venue (the simulator in process, the gRPC client over the wire, a real exchange adapter)
speaks these types; the wire has one codec (`venue.codec`), the grid core one adapter
(`venue.adapter`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, TypeVar

from mmtasks.decimals import parse_decimal
from mmtasks.domain import OrderStatus, Side
from mmtasks.errors import ValidationError

# The venue's words, which `mmtasks.venue` re-exports as they are.
__all__ = [
    "STREAMS",
    "Account",
    "Balance",
    "CancelRequest",
    "CancelResult",
    "Kline",
    "Order",
    "OrderRequest",
    "OrderType",
    "OrderUpdate",
    "PlaceResult",
    "Position",
    "PriceTick",
    "Stream",
    "SymbolRules",
    "TimeInForce",
    "Trade",
]

ZERO = Decimal(0)

Stream = Literal["price", "order", "kline"]
STREAMS: tuple[Stream, ...] = ("price", "order", "kline")

E = TypeVar("E", bound=StrEnum)


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"


class TimeInForce(StrEnum):
    GTC = "GTC"  # rests until filled or cancelled
    IOC = "IOC"  # fills what it can at once, the rest expires


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """Trading rules of one symbol: the filters an order must pass and the fee rates."""

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    maker_fee_rate: Decimal = Decimal("0.0002")
    taker_fee_rate: Decimal = Decimal("0.0004")
    # What the venue's market can do (config validation reads it): a spot market holds no
    # short position and knows no reduce-only; ids longer than client_id_max_len are refused.
    venue: str = "sim"
    spot: bool = False
    post_only: bool = True
    reduce_only: bool = True
    client_id_max_len: int = 32

    @property
    def price_precision(self) -> int:
        """Return the number of decimals of the tick size."""
        return _decimals(self.tick_size)

    @property
    def qty_precision(self) -> int:
        """Return the number of decimals of the step size."""
        return _decimals(self.step_size)


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _enum_value(enum: type[E], value: object, name: str) -> E:
    try:
        return enum(str(value).upper())
    except ValueError:
        names = " or ".join(m.value for m in enum)
        raise ValidationError(f"{name} must be {names}, received {value!r}") from None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """Command: place one order. The venue checks it against the symbol's rules.

    In-process callers may pass "BUY" / "LIMIT" / "GTC" and decimal strings; floats are
    refused (a float price is a bug, never a rounding question). A MARKET order has no price.
    """

    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal | None = None  # required for LIMIT, None for MARKET
    client_order_id: str = ""  # empty: the venue assigns one
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "side", _enum_value(Side, self.side, "side"))
        put(self, "order_type", _enum_value(OrderType, self.order_type, "order_type"))
        put(self, "time_in_force", _enum_value(TimeInForce, self.time_in_force, "time_in_force"))
        put(self, "quantity", parse_decimal(self.quantity, "quantity"))
        price: object = self.price
        put(self, "price", None if price is None or price == "" else parse_decimal(price, "price"))

    def terms(self) -> dict[str, Any]:
        """Return what an order keeps of this request, by the order's field names."""
        return {name: getattr(self, name) for name in _TERMS}


# An order's fields it takes as its request asked them (the price may be moved to a tick, the
# symbol and client id spelled the venue's way).
_TERMS = ("side", "order_type", "time_in_force", "quantity", "post_only", "reduce_only")


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Command: cancel one order, by venue order id or client order id."""

    symbol: str
    order_id: str = ""
    client_order_id: str = ""


@dataclass(frozen=True, slots=True)
class Order:
    """Snapshot of an order after an event; executed_qty is cumulative."""

    symbol: str
    order_id: str
    client_order_id: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    price: Decimal  # the limit price; 0 for a market order
    quantity: Decimal
    executed_qty: Decimal
    avg_price: Decimal  # 0 before any fill
    status: OrderStatus
    post_only: bool
    reduce_only: bool
    created_ms: int
    updated_ms: int
    reject_reason: str = ""


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill of one order; the fee is in fee_asset (the quote asset)."""

    trade_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order state change; last_trade is set when the change is a fill."""

    order: Order
    last_trade: Trade | None
    ts_event_ms: int
    seq: int  # venue-wide, strictly increasing


@dataclass(frozen=True, slots=True)
class PriceTick:
    """A new last price of a symbol; seq is per symbol and strictly increasing."""

    symbol: str
    price: Decimal
    ts_event_ms: int
    seq: int
    volume: Decimal = ZERO  # base qty traded with it, when the venue says


@dataclass(frozen=True, slots=True)
class Kline:
    """A candle; close_ms is open_ms + interval - 1 (Binance's convention)."""

    symbol: str
    interval: str
    open_ms: int
    close_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    closed: bool  # False while the candle is still forming


@dataclass(frozen=True, slots=True)
class Position:
    """Signed position (> 0 long) with average-cost PnL, marked at mark_price."""

    symbol: str
    quantity: Decimal
    entry_price: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    mark_price: Decimal
    fees: Decimal


@dataclass(frozen=True, slots=True)
class Balance:
    """Balance of one asset."""

    asset: str
    free: Decimal
    locked: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Account:
    """Balances plus realized PnL and fees summed over every symbol."""

    balances: tuple[Balance, ...]
    realized_pnl: Decimal
    fees: Decimal


@dataclass(frozen=True, slots=True)
class PlaceResult:
    """Outcome of one batch_place item: an order (maybe a duplicate) or an error."""

    order: Order | None
    duplicate: bool = False
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class CancelResult:
    """Outcome of one batch_cancel item: the cancelled order or an error."""

    order: Order | None
    error: Exception | None = None

"""Immutable messages of the simulated exchange: commands in, order/trade/price snapshots out."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from mmtasks.domain import OrderStatus, Side
from mmtasks.errors import ValidationError


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
    start_price: Decimal
    maker_fee_rate: Decimal = Decimal("0.0002")
    taker_fee_rate: Decimal = Decimal("0.0004")

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


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Command: place one order. Values are already parsed; the engine checks the symbol rules."""

    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal | None = None  # required for LIMIT, ignored for MARKET
    client_order_id: str = ""  # empty: the engine assigns one
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False

    def __post_init__(self) -> None:
        # Accept "BUY"/"LIMIT"/"GTC" from in-process callers, refuse floats and other types.
        for name, enum in (
            ("side", Side),
            ("order_type", OrderType),
            ("time_in_force", TimeInForce),
        ):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, enum(value))
            except ValueError:
                names = " or ".join(m.value for m in enum)
                raise ValidationError(f"{name} must be {names}, received {value!r}") from None
        for name in ("quantity", "price"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Decimal):
                raise ValidationError(f"{name} must be a Decimal, received {value!r}")


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
    """One fill of one order; the fee is in the quote asset."""

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
    seq: int  # exchange-wide, strictly increasing


@dataclass(frozen=True, slots=True)
class PriceTick:
    """A new last price of a symbol; seq is per symbol and strictly increasing."""

    symbol: str
    price: Decimal
    volume: Decimal
    ts_event_ms: int
    seq: int


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
    closed: bool


@dataclass(frozen=True, slots=True)
class Position:
    """Signed position of a symbol with average-cost PnL, marked at the last price."""

    symbol: str
    quantity: Decimal
    entry_price: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    mark_price: Decimal
    fees: Decimal


@dataclass(frozen=True, slots=True)
class Balance:
    """Balance of one asset; the sim settles like a futures wallet (start + realized - fees)."""

    asset: str
    free: Decimal
    locked: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Account:
    """Balances plus realized PnL and fees summed over every symbol."""

    balances: tuple[Balance, ...]
    realized_pnl: Decimal
    fees: Decimal


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Configuration of a simulated exchange."""

    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    start_prices: dict[str, Decimal] = field(default_factory=dict)
    rules: dict[str, SymbolRules] = field(default_factory=dict)  # overrides built-in rules
    liquidity: Decimal | None = None  # base qty per order per price tick; None: unlimited
    starting_balance: Decimal = Decimal(1_000_000)
    kline_intervals: tuple[str, ...] = ("1s", "1m", "5m", "15m", "1h")
    max_trades_kept: int = 200_000
    id_prefix: str | None = None  # None: derived from the start time, unique per run

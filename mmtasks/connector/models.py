"""What the client hands to workers: frozen dataclasses with Decimal fields, and the one place
that builds them from protobuf messages (`*_from_pb`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mmtasks.connector.convert import SIDE_FROM_PB, STATUS_FROM_PB, TIF_FROM_PB, TYPE_FROM_PB
from mmtasks.domain import OrderStatus, Side
from mmtasks.errors import MMError, OperationalError
from mmtasks.sim.models import OrderType, TimeInForce

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as the exchange reports it; executed_qty is cumulative."""

    symbol: str
    order_id: str
    client_order_id: str
    side: Side
    price: Decimal
    quantity: Decimal
    executed_qty: Decimal
    avg_price: Decimal
    status: OrderStatus
    post_only: bool
    reduce_only: bool
    created_ms: int
    updated_ms: int
    reject_reason: str
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC


@dataclass(frozen=True, slots=True)
class TradeView:
    """One fill; the fee is in fee_asset (the quote asset)."""

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
class PositionView:
    """Signed position (> 0 long) with average-cost PnL, marked at mark_price."""

    symbol: str
    quantity: Decimal
    entry_price: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    mark_price: Decimal
    fees: Decimal


@dataclass(frozen=True, slots=True)
class SymbolInfoView:
    """Trading rules of a symbol."""

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    price_precision: int
    qty_precision: int
    maker_fee_rate: Decimal
    taker_fee_rate: Decimal


@dataclass(frozen=True, slots=True)
class PriceView:
    """A price tick; seq is per symbol and strictly increasing."""

    symbol: str
    price: Decimal
    ts_event_ms: int
    seq: int


@dataclass(frozen=True, slots=True)
class KlineView:
    """A candle; closed is False while it is still forming."""

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
class OrderUpdateView:
    """An order state change; last_trade is set when it is a fill."""

    order: OrderView
    last_trade: TradeView | None
    ts_event_ms: int
    seq: int


@dataclass(frozen=True, slots=True)
class BalanceView:
    """Balance of one asset."""

    asset: str
    free: Decimal
    locked: Decimal


@dataclass(frozen=True, slots=True)
class AccountView:
    """Balances plus realized PnL and fees over every symbol."""

    balances: tuple[BalanceView, ...]
    realized_pnl: Decimal
    fees: Decimal


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order of a batch_place call."""

    symbol: str
    side: Side | str
    price: Decimal | str | int
    quantity: Decimal | str | int
    client_order_id: str = ""
    post_only: bool = False
    reduce_only: bool = False
    tif: str = "GTC"
    order_type: str = "LIMIT"


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """One order of a batch_cancel call, by order id or client order id."""

    symbol: str
    order_id: str = ""
    client_order_id: str = ""


@dataclass(frozen=True, slots=True)
class PlaceResult:
    """Outcome of one batch_place item: an order (maybe a duplicate) or an error."""

    order: OrderView | None
    duplicate: bool = False
    error: MMError | None = None


@dataclass(frozen=True, slots=True)
class CancelResult:
    """Outcome of one batch_cancel item: the cancelled order or an error."""

    order: OrderView | None
    error: MMError | None = None


def _d(text: str) -> Decimal:
    # The server always sends canonical decimal strings; "" means an unset field, i.e. zero.
    return Decimal(text) if text else ZERO


def _enum(table: Mapping[Any, Any], value: int, what: str) -> Any:
    try:
        return table[value]
    except KeyError:
        raise OperationalError(f"exchange sent an unknown {what} {value}") from None


def order_from_pb(m: Any) -> OrderView:
    """Return the view of a pb Order."""
    return OrderView(
        symbol=m.symbol,
        order_id=m.order_id,
        client_order_id=m.client_order_id,
        side=_enum(SIDE_FROM_PB, m.side, "side"),
        price=_d(m.price),
        quantity=_d(m.quantity),
        executed_qty=_d(m.executed_qty),
        avg_price=_d(m.avg_price),
        status=_enum(STATUS_FROM_PB, m.status, "order status"),
        post_only=m.post_only,
        reduce_only=m.reduce_only,
        created_ms=m.created_ms,
        updated_ms=m.updated_ms,
        reject_reason=m.reject_reason,
        order_type=TYPE_FROM_PB.get(m.type, OrderType.LIMIT),
        time_in_force=TIF_FROM_PB.get(m.time_in_force, TimeInForce.GTC),
    )


def trade_from_pb(m: Any) -> TradeView:
    """Return the view of a pb Trade."""
    return TradeView(
        trade_id=m.trade_id,
        order_id=m.order_id,
        client_order_id=m.client_order_id,
        symbol=m.symbol,
        side=_enum(SIDE_FROM_PB, m.side, "side"),
        price=_d(m.price),
        quantity=_d(m.quantity),
        fee=_d(m.fee),
        fee_asset=m.fee_asset,
        is_maker=m.is_maker,
        ts_ms=m.ts_ms,
    )


def position_from_pb(m: Any) -> PositionView:
    """Return the view of a pb Position."""
    return PositionView(
        symbol=m.symbol,
        quantity=_d(m.quantity),
        entry_price=_d(m.entry_price),
        realized_pnl=_d(m.realized_pnl),
        unrealized_pnl=_d(m.unrealized_pnl),
        mark_price=_d(m.mark_price),
        fees=_d(m.fees),
    )


def symbol_info_from_pb(m: Any) -> SymbolInfoView:
    """Return the view of a pb SymbolInfo."""
    return SymbolInfoView(
        symbol=m.symbol,
        base_asset=m.base_asset,
        quote_asset=m.quote_asset,
        tick_size=_d(m.tick_size),
        step_size=_d(m.step_size),
        min_qty=_d(m.min_qty),
        min_notional=_d(m.min_notional),
        price_precision=m.price_precision,
        qty_precision=m.qty_precision,
        maker_fee_rate=_d(m.maker_fee_rate),
        taker_fee_rate=_d(m.taker_fee_rate),
    )


def price_from_pb(m: Any) -> PriceView:
    """Return the view of a pb PriceTick."""
    return PriceView(symbol=m.symbol, price=_d(m.price), ts_event_ms=m.ts_event_ms, seq=m.seq)


def kline_from_pb(m: Any) -> KlineView:
    """Return the view of a pb Kline."""
    return KlineView(
        symbol=m.symbol,
        interval=m.interval,
        open_ms=m.open_ms,
        close_ms=m.close_ms,
        open=_d(m.open),
        high=_d(m.high),
        low=_d(m.low),
        close=_d(m.close),
        volume=_d(m.volume),
        closed=m.closed,
    )


def order_update_from_pb(m: Any) -> OrderUpdateView:
    """Return the view of a pb OrderUpdate."""
    return OrderUpdateView(
        order=order_from_pb(m.order),
        last_trade=trade_from_pb(m.last_trade) if m.HasField("last_trade") else None,
        ts_event_ms=m.ts_event_ms,
        seq=m.seq,
    )


def account_from_pb(m: Any) -> AccountView:
    """Return the view of a pb GetAccountResponse."""
    return AccountView(
        balances=tuple(BalanceView(b.asset, _d(b.free), _d(b.locked)) for b in m.balances),
        realized_pnl=_d(m.realized_pnl),
        fees=_d(m.fees),
    )

"""The one codec between venue types and the protobuf wire, both directions.

Decimals travel as canonical strings; "" on the wire means an unset field, i.e. zero. The enum
tables here are the only ones: the server, the client and the bridge all read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from mmtasks.decimals import canon, parse_decimal
from mmtasks.domain import OrderStatus, Side, parse_symbol
from mmtasks.errors import OperationalError, ValidationError
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.venue.types import (
    Account,
    Balance,
    Kline,
    Order,
    OrderRequest,
    OrderType,
    OrderUpdate,
    Position,
    PriceTick,
    SymbolRules,
    TimeInForce,
    Trade,
)

K = TypeVar("K")
V = TypeVar("V")

ZERO = Decimal(0)

SIDE_TO_PB = {Side.BUY: pb.SIDE_BUY, Side.SELL: pb.SIDE_SELL}
SIDE_FROM_PB = {v: k for k, v in SIDE_TO_PB.items()}
TYPE_TO_PB = {OrderType.LIMIT: pb.ORDER_TYPE_LIMIT, OrderType.MARKET: pb.ORDER_TYPE_MARKET}
TYPE_FROM_PB = {v: k for k, v in TYPE_TO_PB.items()}
TIF_TO_PB = {TimeInForce.GTC: pb.TIME_IN_FORCE_GTC, TimeInForce.IOC: pb.TIME_IN_FORCE_IOC}
TIF_FROM_PB = {v: k for k, v in TIF_TO_PB.items()}
STATUS_TO_PB = {
    OrderStatus.NEW: pb.ORDER_STATUS_NEW,
    OrderStatus.PARTIALLY_FILLED: pb.ORDER_STATUS_PARTIALLY_FILLED,
    OrderStatus.FILLED: pb.ORDER_STATUS_FILLED,
    OrderStatus.CANCELED: pb.ORDER_STATUS_CANCELED,
    OrderStatus.REJECTED: pb.ORDER_STATUS_REJECTED,
    OrderStatus.EXPIRED: pb.ORDER_STATUS_EXPIRED,
}
STATUS_FROM_PB = {v: k for k, v in STATUS_TO_PB.items()}


# -- venue types to the wire ---------------------------------------------------------------


def order_to_pb(order: Order) -> pb.Order:
    """Return the wire form of an order snapshot."""
    return pb.Order(
        symbol=order.symbol,
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        side=SIDE_TO_PB[order.side],
        type=TYPE_TO_PB[order.order_type],
        time_in_force=TIF_TO_PB[order.time_in_force],
        price=canon(order.price),
        quantity=canon(order.quantity),
        executed_qty=canon(order.executed_qty),
        avg_price=canon(order.avg_price),
        status=STATUS_TO_PB[order.status],
        post_only=order.post_only,
        reduce_only=order.reduce_only,
        created_ms=order.created_ms,
        updated_ms=order.updated_ms,
        reject_reason=order.reject_reason,
    )


def trade_to_pb(trade: Trade) -> pb.Trade:
    """Return the wire form of a trade."""
    return pb.Trade(
        trade_id=trade.trade_id,
        order_id=trade.order_id,
        client_order_id=trade.client_order_id,
        symbol=trade.symbol,
        side=SIDE_TO_PB[trade.side],
        price=canon(trade.price),
        quantity=canon(trade.quantity),
        fee=canon(trade.fee),
        fee_asset=trade.fee_asset,
        is_maker=trade.is_maker,
        ts_ms=trade.ts_ms,
    )


def update_to_pb(update: OrderUpdate) -> pb.OrderUpdate:
    """Return the wire form of an order update."""
    message = pb.OrderUpdate(
        order=order_to_pb(update.order), ts_event_ms=update.ts_event_ms, seq=update.seq
    )
    if update.last_trade is not None:
        message.last_trade.CopyFrom(trade_to_pb(update.last_trade))
    return message


def tick_to_pb(tick: PriceTick) -> pb.PriceTick:
    """Return the wire form of a price tick (the wire has no volume)."""
    return pb.PriceTick(
        symbol=tick.symbol, price=canon(tick.price), ts_event_ms=tick.ts_event_ms, seq=tick.seq
    )


def kline_to_pb(kline: Kline) -> pb.Kline:
    """Return the wire form of a candle."""
    return pb.Kline(
        symbol=kline.symbol,
        interval=kline.interval,
        open_ms=kline.open_ms,
        close_ms=kline.close_ms,
        open=canon(kline.open),
        high=canon(kline.high),
        low=canon(kline.low),
        close=canon(kline.close),
        volume=canon(kline.volume),
        closed=kline.closed,
    )


def position_to_pb(position: Position) -> pb.Position:
    """Return the wire form of a position."""
    return pb.Position(
        symbol=position.symbol,
        quantity=canon(position.quantity),
        entry_price=canon(position.entry_price),
        realized_pnl=canon(position.realized_pnl),
        unrealized_pnl=canon(position.unrealized_pnl),
        mark_price=canon(position.mark_price),
        fees=canon(position.fees),
    )


def account_to_pb(account: Account) -> pb.GetAccountResponse:
    """Return the wire form of the account."""
    return pb.GetAccountResponse(
        balances=[
            pb.Balance(asset=b.asset, free=canon(b.free), locked=canon(b.locked))
            for b in account.balances
        ],
        realized_pnl=canon(account.realized_pnl),
        fees=canon(account.fees),
    )


def rules_to_pb(rules: SymbolRules) -> pb.SymbolInfo:
    """Return the wire form of a symbol's rules."""
    return pb.SymbolInfo(
        symbol=rules.symbol,
        base_asset=rules.base_asset,
        quote_asset=rules.quote_asset,
        tick_size=canon(rules.tick_size),
        step_size=canon(rules.step_size),
        min_qty=canon(rules.min_qty),
        min_notional=canon(rules.min_notional),
        price_precision=rules.price_precision,
        qty_precision=rules.qty_precision,
        maker_fee_rate=canon(rules.maker_fee_rate),
        taker_fee_rate=canon(rules.taker_fee_rate),
        venue=rules.venue,
        spot=rules.spot,
        post_only=rules.post_only,
        reduce_only=rules.reduce_only,
        client_id_max_len=rules.client_id_max_len,
    )


def request_to_pb(request: OrderRequest) -> pb.PlaceOrderRequest:
    """Return the wire request of an order (a MARKET order sends no price)."""
    market = request.order_type is OrderType.MARKET
    return pb.PlaceOrderRequest(
        symbol=request.symbol,
        side=SIDE_TO_PB[request.side],
        type=TYPE_TO_PB[request.order_type],
        time_in_force=TIF_TO_PB[request.time_in_force],
        price="" if market or request.price is None else canon(request.price),
        quantity=canon(request.quantity),
        client_order_id=request.client_order_id,
        post_only=request.post_only,
        reduce_only=request.reduce_only,
    )


# -- the wire to venue types ---------------------------------------------------------------
# Answers from a venue are trusted to be well formed; a value outside the tables is a broken
# venue (OperationalError). Requests from clients are not: request_from_pb names the bad field.


def _d(text: str) -> Decimal:
    return Decimal(text) if text else ZERO


def _enum(table: Mapping[K, V], value: K, what: str) -> V:
    try:
        return table[value]
    except KeyError:
        raise OperationalError(f"venue sent an unknown {what} {value}") from None


def order_from_pb(m: pb.Order) -> Order:
    """Return the order of a pb Order."""
    return Order(
        symbol=m.symbol,
        order_id=m.order_id,
        client_order_id=m.client_order_id,
        side=_enum(SIDE_FROM_PB, m.side, "side"),
        order_type=TYPE_FROM_PB.get(m.type, OrderType.LIMIT),
        time_in_force=TIF_FROM_PB.get(m.time_in_force, TimeInForce.GTC),
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
    )


def trade_from_pb(m: pb.Trade) -> Trade:
    """Return the trade of a pb Trade."""
    return Trade(
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


def update_from_pb(m: pb.OrderUpdate) -> OrderUpdate:
    """Return the order update of a pb OrderUpdate."""
    return OrderUpdate(
        order=order_from_pb(m.order),
        last_trade=trade_from_pb(m.last_trade) if m.HasField("last_trade") else None,
        ts_event_ms=m.ts_event_ms,
        seq=m.seq,
    )


def tick_from_pb(m: pb.PriceTick) -> PriceTick:
    """Return the tick of a pb PriceTick."""
    return PriceTick(symbol=m.symbol, price=_d(m.price), ts_event_ms=m.ts_event_ms, seq=m.seq)


def kline_from_pb(m: pb.Kline) -> Kline:
    """Return the candle of a pb Kline."""
    return Kline(
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


def position_from_pb(m: pb.Position) -> Position:
    """Return the position of a pb Position."""
    return Position(
        symbol=m.symbol,
        quantity=_d(m.quantity),
        entry_price=_d(m.entry_price),
        realized_pnl=_d(m.realized_pnl),
        unrealized_pnl=_d(m.unrealized_pnl),
        mark_price=_d(m.mark_price),
        fees=_d(m.fees),
    )


def account_from_pb(m: pb.GetAccountResponse) -> Account:
    """Return the account of a pb GetAccountResponse."""
    return Account(
        balances=tuple(Balance(b.asset, _d(b.free), _d(b.locked)) for b in m.balances),
        realized_pnl=_d(m.realized_pnl),
        fees=_d(m.fees),
    )


def rules_from_pb(m: pb.SymbolInfo) -> SymbolRules:
    """Return the rules of a pb SymbolInfo (precisions follow from tick and step sizes)."""
    return SymbolRules(
        symbol=m.symbol,
        base_asset=m.base_asset,
        quote_asset=m.quote_asset,
        tick_size=_d(m.tick_size),
        step_size=_d(m.step_size),
        min_qty=_d(m.min_qty),
        min_notional=_d(m.min_notional),
        maker_fee_rate=_d(m.maker_fee_rate),
        taker_fee_rate=_d(m.taker_fee_rate),
        # A connector from before capabilities sends none: it served the simulator.
        venue=m.venue or "sim",
        spot=m.spot,
        post_only=m.post_only or not m.venue,
        reduce_only=m.reduce_only or not m.venue,
        client_id_max_len=m.client_id_max_len or 32,
    )


def _enum_name(enum: Any, value: object) -> str:
    try:
        return str(enum.Name(value))
    except ValueError:
        return str(value)


def _required(table: Mapping[K, V], value: K, enum: Any, field: str) -> V:
    try:
        return table[value]
    except KeyError:
        names = " or ".join(enum.Name(v) for v in table)
        raise ValidationError(
            f"{field} must be {names}, received {_enum_name(enum, value)}"
        ) from None


def request_from_pb(req: pb.PlaceOrderRequest) -> OrderRequest:
    """Return the order request of a client's wire request; ValidationError names a bad field."""
    if not req.symbol:
        raise ValidationError("symbol is required, received ''")
    side = _required(SIDE_FROM_PB, req.side, pb.Side, "side")
    order_type = _required(TYPE_FROM_PB, req.type, pb.OrderType, "type")
    tif = _required(TIF_FROM_PB, req.time_in_force, pb.TimeInForce, "time_in_force")
    quantity = parse_decimal(req.quantity, "quantity", positive=True)
    price: Decimal | None = None
    if order_type is OrderType.LIMIT:
        price = parse_decimal(req.price, "price", positive=True)
    elif req.price not in ("", "0"):
        raise ValidationError(f"price must be empty for a MARKET order, received {req.price!r}")
    return OrderRequest(
        symbol=parse_symbol(req.symbol),
        side=side,
        quantity=quantity,
        price=price,
        client_order_id=req.client_order_id,
        order_type=order_type,
        time_in_force=tif,
        post_only=req.post_only,
        reduce_only=req.reduce_only,
    )

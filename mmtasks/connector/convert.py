"""Server side of the wire: sim messages to protobuf, and the enum tables both sides share."""

from __future__ import annotations

from mmtasks.decimals import canon
from mmtasks.domain import OrderStatus, Side
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.sim.models import (
    Account,
    Kline,
    Order,
    OrderType,
    OrderUpdate,
    Position,
    PriceTick,
    SymbolRules,
    TimeInForce,
    Trade,
)

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
    """Return the wire form of a price tick."""
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
    )

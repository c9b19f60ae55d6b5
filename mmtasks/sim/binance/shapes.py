"""The simulator's venue types in Binance's JSON: numbers as decimal strings, ids as integers.

USDⓈ-M futures (`/fapi`) and spot (`/api/v3`) answer the same facts in different shapes; each
function here is one answer of one of them, field for field as Binance sends it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mmtasks.decimals import canon
from mmtasks.domain import OrderStatus, Side
from mmtasks.venue.types import Kline, Order, OrderType, Position, SymbolRules, Trade

ZERO = Decimal(0)


def num(d: Decimal) -> str:
    """A decimal as Binance writes it: a plain string, never an exponent."""
    return canon(d)


def order_id(text: str) -> int:
    return int(text)


def _futures_type(order: Order) -> str:
    return order.order_type.value


def _futures_tif(order: Order) -> str:
    if order.post_only:
        return "GTX"
    return order.time_in_force.value


def _status(order: Order) -> str:
    # A rejected order never exists at Binance (the request fails); a post-only that would
    # cross expires there. The engine keeps both: they answer EXPIRED when looked up.
    return "EXPIRED" if order.status is OrderStatus.REJECTED else order.status.value


def futures_order(order: Order) -> dict[str, Any]:
    """An order as /fapi/v1/order answers it."""
    cum_quote = order.avg_price * order.executed_qty
    return {
        "orderId": order_id(order.order_id),
        "symbol": order.symbol,
        "status": _status(order),
        "clientOrderId": order.client_order_id,
        "price": num(order.price),
        "avgPrice": num(order.avg_price),
        "origQty": num(order.quantity),
        "executedQty": num(order.executed_qty),
        "cumQty": num(order.executed_qty),
        "cumQuote": num(cum_quote),
        "timeInForce": _futures_tif(order),
        "type": _futures_type(order),
        "reduceOnly": order.reduce_only,
        "closePosition": False,
        "side": order.side.value,
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": _futures_type(order),
        "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE",
        "goodTillDate": 0,
        "time": order.created_ms,
        "updateTime": order.updated_ms,
    }


def spot_type(order: Order) -> str:
    if order.post_only:
        return "LIMIT_MAKER"
    return order.order_type.value


def spot_order(order: Order) -> dict[str, Any]:
    """An order as /api/v3/order answers it (GET; POST answers the same fields)."""
    limit = order.order_type is OrderType.LIMIT
    return {
        "symbol": order.symbol,
        "orderId": order_id(order.order_id),
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": num(order.price),
        "origQty": num(order.quantity),
        "executedQty": num(order.executed_qty),
        "cummulativeQuoteQty": num(order.avg_price * order.executed_qty),
        "status": _status(order),
        "timeInForce": order.time_in_force.value if limit and not order.post_only else "GTC",
        "type": spot_type(order),
        "side": order.side.value,
        "stopPrice": "0",
        "icebergQty": "0",
        "time": order.created_ms,
        "transactTime": order.updated_ms,
        "updateTime": order.updated_ms,
        "workingTime": order.created_ms,
        "isWorking": order.status.is_open,
        "origQuoteOrderQty": "0",
        "selfTradePreventionMode": "NONE",
    }


def futures_trade(trade: Trade, realized: Decimal = ZERO) -> dict[str, Any]:
    """A fill as /fapi/v1/userTrades answers it."""
    return {
        "buyer": trade.side is Side.BUY,
        "commission": num(trade.fee),
        "commissionAsset": trade.fee_asset,
        "id": int(trade.trade_id),
        "maker": trade.is_maker,
        "orderId": order_id(trade.order_id),
        "price": num(trade.price),
        "qty": num(trade.quantity),
        "quoteQty": num(trade.price * trade.quantity),
        "realizedPnl": num(realized),
        "side": trade.side.value,
        "positionSide": "BOTH",
        "symbol": trade.symbol,
        "time": trade.ts_ms,
    }


def spot_trade(trade: Trade) -> dict[str, Any]:
    """A fill as /api/v3/myTrades answers it."""
    return {
        "symbol": trade.symbol,
        "id": int(trade.trade_id),
        "orderId": order_id(trade.order_id),
        "orderListId": -1,
        "price": num(trade.price),
        "qty": num(trade.quantity),
        "quoteQty": num(trade.price * trade.quantity),
        "commission": num(trade.fee),
        "commissionAsset": trade.fee_asset,
        "time": trade.ts_ms,
        "isBuyer": trade.side is Side.BUY,
        "isMaker": trade.is_maker,
        "isBestMatch": True,
    }


def _filters(rules: SymbolRules, notional_filter: str) -> list[dict[str, Any]]:
    notional_key = "notional" if notional_filter == "MIN_NOTIONAL" else "minNotional"
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": num(rules.tick_size),
            "maxPrice": "10000000",
            "tickSize": num(rules.tick_size),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": num(rules.min_qty),
            "maxQty": "100000000",
            "stepSize": num(rules.step_size),
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": num(rules.min_qty),
            "maxQty": "100000000",
            "stepSize": num(rules.step_size),
        },
        {"filterType": notional_filter, notional_key: num(rules.min_notional)},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
    ]


def futures_symbol(rules: SymbolRules, onboard_ms: int) -> dict[str, Any]:
    """One symbol of /fapi/v1/exchangeInfo: a USDⓈ-M perpetual."""
    return {
        "symbol": rules.symbol,
        "pair": rules.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": onboard_ms,
        "status": "TRADING",
        "baseAsset": rules.base_asset,
        "quoteAsset": rules.quote_asset,
        "marginAsset": rules.quote_asset,
        "pricePrecision": rules.price_precision,
        "quantityPrecision": rules.qty_precision,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": _filters(rules, "MIN_NOTIONAL"),
        "orderTypes": ["LIMIT", "MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "permissionSets": ["GRID", "COPY"],
    }


def spot_symbol(rules: SymbolRules) -> dict[str, Any]:
    """One symbol of /api/v3/exchangeInfo."""
    return {
        "symbol": rules.symbol,
        "status": "TRADING",
        "baseAsset": rules.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": rules.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": False,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": _filters(rules, "NOTIONAL"),
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def kline_row(k: Kline) -> list[Any]:
    """A candle as /klines answers it: one array."""
    return [
        k.open_ms,
        num(k.open),
        num(k.high),
        num(k.low),
        num(k.close),
        num(k.volume),
        k.close_ms,
        num(k.volume * k.close),
        0,
        "0",
        "0",
        "0",
    ]


def futures_position(p: Position, rules: SymbolRules, update_ms: int) -> dict[str, Any]:
    """One position as /fapi/v2/positionRisk (and v3) answers it: one-way mode, cross margin."""
    notional = p.quantity * p.mark_price
    return {
        "symbol": p.symbol,
        "positionSide": "BOTH",
        "positionAmt": num(p.quantity),
        "entryPrice": num(p.entry_price),
        "breakEvenPrice": num(p.entry_price),
        "markPrice": num(p.mark_price),
        "unRealizedProfit": num(p.unrealized_pnl),
        "unrealizedProfit": num(p.unrealized_pnl),
        "liquidationPrice": "0",
        "leverage": "1",
        "maxNotionalValue": "1000000000",
        "marginType": "cross",
        "isolatedMargin": "0",
        "isolated": False,
        "isAutoAddMargin": "false",
        "notional": num(notional),
        "isolatedWallet": "0",
        "initialMargin": num(abs(notional)),
        "maintMargin": "0",
        "positionInitialMargin": num(abs(notional)),
        "openOrderInitialMargin": "0",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "marginAsset": rules.quote_asset,
        "updateTime": update_ms,
    }

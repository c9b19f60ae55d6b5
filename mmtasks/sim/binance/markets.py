"""One market of the Binance-speaking simulator: the sim's matching engine behind Binance's rules.

`UsdmMarket` is a USDⓈ-M perpetuals account (one-way mode, reduce-only, post-only as GTX);
`SpotMarket` a spot account (post-only as LIMIT_MAKER, no shorts: a sell needs the base asset,
a buy the quote). Each request is checked as Binance checks it, with Binance's codes and words,
before the engine sees it; what the engine would reject (a post-only that would take, a
reduce-only that would grow the position) is refused the same way, so a refused order is never
recorded (Binance does not record it either) and its client id stays free.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from mmtasks.domain import OrderStatus, Side
from mmtasks.errors import OrderNotFoundError, UnknownSymbolError
from mmtasks.sim.binance import shapes
from mmtasks.sim.binance.errors import (
    INVALID_SYMBOL,
    NO_SUCH_ORDER,
    UNKNOWN_ORDER,
    bad_param,
    bad_request,
    missing,
)
from mmtasks.sim.engine import SimExchange
from mmtasks.sim.rules import rejection_reason
from mmtasks.venue.types import Order, OrderRequest, OrderType, SymbolRules, TimeInForce, Trade

ZERO = Decimal(0)
# Binance's rule for newClientOrderId (ccxt's generated ids, `x-cvBPrNm9...`, pass it).
CLIENT_ID_PATTERN = r"^[\.A-Za-z0-9:/_-]{1,36}$"
CLIENT_ID_RE = re.compile(CLIENT_ID_PATTERN)
KLINE_LIMIT_MAX = 1500


def _decimal(params: Mapping[str, str], name: str, *, required: bool = True) -> Decimal | None:
    text = params.get(name, "")
    if not text:
        if required:
            raise missing(name)
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise bad_param(name) from None
    if not value.is_finite():
        raise bad_param(name)
    return value


def _flag(params: Mapping[str, str], name: str) -> bool:
    text = params.get(name, "false").lower()
    if text not in ("true", "false"):
        raise bad_request(-1130, f"Data sent for parameter '{name}' is not valid.")
    return text == "true"


class Market:
    """What both markets share: symbols, lookups, cancels, trades, candles, tickers."""

    kind = ""
    # How the market spells a post-only order: an order type (spot's LIMIT_MAKER) or a LIMIT
    # order's time in force (USDⓈ-M's GTX).
    maker_type = ""
    maker_tif = ""
    post_only_reject: tuple[int, str] = (0, "")
    trades_window_ms = 0  # the most time one trades query may span (startTime to endTime)
    duplicate: tuple[int, str] = (0, "")
    # How the market's answers show an order and a trade (shapes.py).
    order_shape: Callable[[Order], dict[str, Any]]
    trade_shape: Callable[[Trade], dict[str, Any]]

    def __init__(self, engine: SimExchange) -> None:
        self.engine = engine
        self.started_ms = engine.clock()

    # -- lookups -----------------------------------------------------------------------------

    def rules(self, params: Mapping[str, str]) -> SymbolRules:
        symbol = params.get("symbol", "")
        if not symbol:
            raise missing("symbol")
        try:
            return self.engine.rules(symbol)
        except UnknownSymbolError:
            raise bad_request(*INVALID_SYMBOL) from None

    def _find(self, params: Mapping[str, str], not_found: tuple[int, str]) -> Order:
        rules = self.rules(params)
        order_id, client_id = params.get("orderId", ""), params.get("origClientOrderId", "")
        if not order_id and not client_id:
            raise bad_request(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        try:
            order = self.engine.get_order(rules.symbol, order_id, client_id)
        except OrderNotFoundError:
            raise bad_request(*not_found) from None
        if order.status is OrderStatus.REJECTED:  # never recorded at Binance
            raise bad_request(*not_found)
        return order

    def get_order(self, params: Mapping[str, str]) -> dict[str, Any]:
        return self.order_shape(self._find(params, NO_SUCH_ORDER))

    def cancel_order(self, params: Mapping[str, str]) -> dict[str, Any]:
        with self.engine.lock:
            order = self._find(params, UNKNOWN_ORDER)
            if not order.status.is_open:
                raise bad_request(*UNKNOWN_ORDER)
            return self.order_shape(self.engine.cancel_order(order.symbol, order.order_id))

    def cancel_all(self, params: Mapping[str, str]) -> list[Order]:
        rules = self.rules(params)
        return self.engine.cancel_all(rules.symbol)

    def open_orders(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        symbol = self.rules(params).symbol if params.get("symbol") else ""
        return [self.order_shape(o) for o in self.engine.open_orders(symbol)]

    def my_trades(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """The account's trades of a symbol, oldest first, within Binance's time window: at
        most `trades_window_ms` between startTime and endTime (-1127 beyond), one window from
        startTime when only it is sent, the newest trades when neither is."""
        rules = self.rules(params)
        since = int(params.get("startTime") or 0)
        end = int(params.get("endTime") or 0)
        from_id = int(params.get("fromId") or 0)
        limit = min(int(params.get("limit") or 500), 1000)
        window = self.trades_window_ms
        if since and end and end - since > window:
            hours = window // 3_600_000
            raise bad_request(-1127, f"More than {hours} hours between startTime and endTime.")
        if since and not end:
            end = since + window
        trades = self.engine.trades(rules.symbol, since, 1_000_000)
        picked = sorted(
            (
                t
                for t in trades
                if t.ts_ms >= since
                and (not end or t.ts_ms <= end)
                and (not from_id or int(t.trade_id) >= from_id)
            ),
            key=lambda t: (t.ts_ms, int(t.trade_id)),
        )
        newest = not since and not end and not from_id
        return [self.trade_shape(t) for t in (picked[-limit:] if newest else picked[:limit])]

    def klines(self, params: Mapping[str, str]) -> list[list[Any]]:
        rules = self.rules(params)
        interval = params.get("interval", "")
        if not interval:
            raise missing("interval")
        if interval not in self.engine.config.kline_intervals:
            raise bad_request(-1120, "Invalid interval.")
        limit = min(int(params.get("limit") or 500), KLINE_LIMIT_MAX)
        end = int(params.get("endTime") or 0) or None
        start = int(params.get("startTime") or 0)
        closed = self.engine.klines(rules.symbol, interval, 100_000, end)
        forming = self.engine.forming_kline(rules.symbol, interval)
        rows = [*closed, *([forming] if forming is not None and end is None else [])]
        rows = [k for k in rows if k.open_ms >= start]
        rows = rows[:limit] if start else rows[-limit:]
        return [shapes.kline_row(k) for k in rows]

    def ticker_24hr(self, params: Mapping[str, str]) -> dict[str, Any] | list[dict[str, Any]]:
        if params.get("symbol"):
            return self._ticker(self.rules(params).symbol)
        return [self._ticker(s) for s in self.engine.symbols]

    def _ticker(self, symbol: str) -> dict[str, Any]:
        tick = self.engine.latest_price(symbol)
        last = shapes.num(tick.price)
        return {
            "symbol": symbol,
            "priceChange": "0",
            "priceChangePercent": "0",
            "weightedAvgPrice": last,
            "lastPrice": last,
            "lastQty": shapes.num(tick.volume),
            "openPrice": last,
            "highPrice": last,
            "lowPrice": last,
            "volume": "0",
            "quoteVolume": "0",
            "openTime": max(0, tick.ts_event_ms - 86_400_000),
            "closeTime": tick.ts_event_ms,
            "firstId": 0,
            "lastId": tick.seq,
            "count": tick.seq,
        }

    def ticker_price(self, params: Mapping[str, str]) -> dict[str, Any] | list[dict[str, Any]]:
        def one(symbol: str) -> dict[str, Any]:
            tick = self.engine.latest_price(symbol)
            return {"symbol": symbol, "price": shapes.num(tick.price), "time": tick.ts_event_ms}

        if params.get("symbol"):
            return one(self.rules(params).symbol)
        return [one(s) for s in self.engine.symbols]

    # -- new orders --------------------------------------------------------------------------

    def _request(self, params: Mapping[str, str]) -> tuple[SymbolRules, OrderRequest]:
        """Check a new order's parameters as Binance does; return the engine's request."""
        rules = self.rules(params)
        side = params.get("side", "")
        if not side:
            raise missing("side")
        if side not in ("BUY", "SELL"):
            raise bad_request(-1117, "Invalid side.")
        order_type, tif, post_only = self._type(params)
        quantity = _decimal(params, "quantity")
        assert quantity is not None
        price = _decimal(params, "price", required=order_type is OrderType.LIMIT)
        client_id = params.get("newClientOrderId", "")
        if client_id and not CLIENT_ID_RE.match(client_id):
            raise bad_request(-4015, "Client order id is not valid.")
        reduce_only = self._reduce_only(params)
        self._check_filters(rules, quantity, price if order_type is OrderType.LIMIT else None)
        request = OrderRequest(
            symbol=rules.symbol,
            side=Side(side),
            quantity=quantity,
            price=price if order_type is OrderType.LIMIT else None,
            client_order_id=client_id,
            order_type=order_type,
            time_in_force=tif,
            post_only=post_only,
            reduce_only=reduce_only,
        )
        return rules, request

    def _type(self, params: Mapping[str, str]) -> tuple[OrderType, TimeInForce, bool]:
        """Return the order type, time in force and post-only of a new order's parameters."""
        kind = params.get("type", "")
        if not kind:
            raise missing("type")
        if kind == "MARKET":
            return OrderType.MARKET, TimeInForce.GTC, False
        if kind == self.maker_type:
            return OrderType.LIMIT, TimeInForce.GTC, True
        if kind != "LIMIT":
            raise bad_request(-1116, "Invalid orderType.")
        tif = params.get("timeInForce", "")
        if not tif:
            raise missing("timeInForce")
        if tif == self.maker_tif:
            return OrderType.LIMIT, TimeInForce.GTC, True
        if tif not in ("GTC", "IOC"):
            raise bad_request(-1115, "Invalid timeInForce.")
        return OrderType.LIMIT, TimeInForce(tif), False

    def _reduce_only(self, params: Mapping[str, str]) -> bool:
        raise NotImplementedError

    def _check_filters(self, rules: SymbolRules, quantity: Decimal, price: Decimal | None) -> None:
        raise NotImplementedError

    def _check_funds(self, request: OrderRequest, last: Decimal) -> None:
        """Spot: refuse what the balances cannot pay for (the futures account has margin)."""

    def new_order(self, params: Mapping[str, str]) -> Order:
        """Place one order as Binance does, or raise the error Binance answers."""
        rules, request = self._request(params)
        with self.engine.lock:  # checks and placement see one state of the book
            if request.client_order_id:
                existing = self._existing(rules.symbol, request.client_order_id)
                if existing is not None:
                    raise bad_request(*self.duplicate)
            last = self.engine.latest_price(rules.symbol).price
            position = self.engine.positions(rules.symbol)[0].quantity
            price = request.price if request.price is not None else last
            reason = rejection_reason(rules.symbol, request, price, last=last, position=position)
            if reason.startswith("post-only"):
                raise bad_request(*self.post_only_reject)
            if reason:
                raise bad_request(-2022, "ReduceOnly Order is rejected.")
            self._check_funds(request, last)
            order, _ = self.engine.place_order(request)
            return order

    def _existing(self, symbol: str, client_id: str) -> Order | None:
        try:
            order = self.engine.get_order(symbol, "", client_id)
        except OrderNotFoundError:
            return None
        return None if order.status is OrderStatus.REJECTED else order

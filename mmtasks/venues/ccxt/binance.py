"""Binance's raw answers (ccxt's `info`) as venue types, Decimal from the wire.

ccxt's unified structures carry floats; money here is read from the venue's own strings, which
ccxt keeps untouched in `info` (REST) and passes to its websocket handlers (streams). One
`Dialect` per market kind: USDⓈ-M perpetuals (`binanceusdm`) and spot (`binance`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mmtasks.domain import OrderStatus, Side
from mmtasks.venue.types import Kline, Order, OrderType, PriceTick, TimeInForce, Trade

ZERO = Decimal(0)
STATUS = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
    "PENDING_CANCEL": OrderStatus.NEW,
}


def d(value: Any) -> Decimal:
    """A venue number (a string) as Decimal; '' and None are 0. Never through float."""
    if value is None or value == "":
        return ZERO
    if isinstance(value, float):
        raise TypeError(f"a float reached the venue parser: {value!r}")
    return Decimal(str(value))


def _kind(order_type: str, tif: str) -> tuple[OrderType, TimeInForce, bool]:
    post_only = order_type == "LIMIT_MAKER" or tif == "GTX"
    kind = OrderType.MARKET if order_type == "MARKET" else OrderType.LIMIT
    time_in_force = TimeInForce.IOC if tif == "IOC" else TimeInForce.GTC
    return kind, time_in_force, post_only


@dataclass(frozen=True)
class _Keys:
    """Where an order's fields stand in a message: REST answers spell Binance's names out, the
    user stream abbreviates them."""

    symbol: str
    order_id: str
    side: str
    order_type: str
    time_in_force: str
    price: str
    quantity: str
    executed_qty: str
    status: str
    reduce_only: str
    avg_price: str  # USDⓈ-M
    quote_total: str  # spot, for the average price


REST = _Keys(
    "symbol",
    "orderId",
    "side",
    "type",
    "timeInForce",
    "price",
    "origQty",
    "executedQty",
    "status",
    "reduceOnly",
    "avgPrice",
    "cummulativeQuoteQty",
)
STREAM = _Keys("s", "i", "S", "o", "f", "p", "q", "z", "X", "R", "ap", "Z")


@dataclass(frozen=True)
class Dialect:
    """How one Binance market kind writes orders, trades, positions and balances."""

    name: str
    spot: bool
    options: Mapping[str, Any]
    trades_window_ms: int  # the most time one trades query may span (Binance refuses more)

    # -- REST --------------------------------------------------------------------------------

    def order(self, raw: Mapping[str, Any]) -> Order:
        """An order as GET/POST/DELETE /order answers it."""
        created = int(
            raw.get("time")
            or raw.get("workingTime")
            or raw.get("transactTime")
            or raw.get("updateTime")
            or 0
        )
        updated = int(raw.get("updateTime") or raw.get("transactTime") or created)
        return self._order(raw, REST, str(raw.get("clientOrderId", "")), created, updated)

    def trade(self, raw: Mapping[str, Any], client_ids: Mapping[str, str]) -> Trade:
        """A fill as /userTrades (perpetuals) or /myTrades (spot) answers it."""
        if self.spot:
            side, maker = (Side.BUY if raw.get("isBuyer") else Side.SELL), bool(raw.get("isMaker"))
        else:
            side, maker = Side(str(raw["side"])), bool(raw.get("maker"))
        order_id = str(raw["orderId"])
        return Trade(
            trade_id=str(raw["id"]),
            order_id=order_id,
            client_order_id=client_ids.get(order_id, ""),
            symbol=str(raw["symbol"]),
            side=side,
            price=d(raw["price"]),
            quantity=d(raw["qty"]),
            fee=d(raw.get("commission")),
            fee_asset=str(raw.get("commissionAsset", "")),
            is_maker=maker,
            ts_ms=int(raw["time"]),
        )

    # -- streams -----------------------------------------------------------------------------

    def user_socket(self, url: str, options: Mapping[str, Any]) -> bool:
        """Return True when url is the socket of the user stream (orders and fills).

        USDⓈ-M's carries the listen key (`?listenKey=K`, or `/K` at its end); spot's user stream
        runs on the WebSocket API. Market sockets (trades, candles) are neither.
        """
        if "listenKey=" in url or "/ws-api/" in url:
            return True
        keys = [v.get("listenKey") for v in options.values() if isinstance(v, Mapping)]
        return any(key and url.rstrip("/").endswith("/" + str(key)) for key in keys)

    def order_event(self, message: Mapping[str, Any]) -> tuple[Order, Trade | None, int] | None:
        """(order, fill or None, event time) of a user-stream order event; None for others."""
        if message.get("e") == "ORDER_TRADE_UPDATE":
            o: Mapping[str, Any] = message["o"]
        elif message.get("e") == "executionReport":
            o = message
        else:
            return None
        client_id = str(o.get("C") or o.get("c") or "") if self.spot else str(o.get("c", ""))
        ts = int(o.get("T") or message.get("E") or 0)
        order = self._order(o, STREAM, client_id, int(o.get("O") or ts), ts)
        trade = None
        if o.get("x") == "TRADE":
            trade = Trade(
                trade_id=str(o["t"]),
                order_id=order.order_id,
                client_order_id=client_id,
                symbol=order.symbol,
                side=order.side,
                price=d(o.get("L")),
                quantity=d(o.get("l")),
                fee=d(o.get("n")),
                fee_asset=str(o.get("N") or ""),
                is_maker=bool(o.get("m")),
                ts_ms=ts,
            )
        return order, trade, ts

    def _order(
        self, raw: Mapping[str, Any], keys: _Keys, client_id: str, created_ms: int, updated_ms: int
    ) -> Order:
        """The order a message describes, its fields found under keys."""
        kind, tif, post_only = _kind(
            str(raw.get(keys.order_type, "")), str(raw.get(keys.time_in_force, ""))
        )
        executed = d(raw.get(keys.executed_qty))
        if self.spot:
            avg = d(raw.get(keys.quote_total)) / executed if executed else ZERO
        else:
            avg = d(raw.get(keys.avg_price))
        return Order(
            symbol=str(raw[keys.symbol]),
            order_id=str(raw[keys.order_id]),
            client_order_id=client_id,
            side=Side(str(raw[keys.side])),
            order_type=kind,
            time_in_force=tif,
            price=d(raw.get(keys.price)),
            quantity=d(raw.get(keys.quantity)),
            executed_qty=executed,
            avg_price=avg,
            status=STATUS.get(str(raw.get(keys.status)), OrderStatus.NEW),
            post_only=post_only,
            reduce_only=bool(raw.get(keys.reduce_only, False)),
            created_ms=created_ms,
            updated_ms=updated_ms,
        )

    def trade_tick(self, message: Mapping[str, Any]) -> PriceTick | None:
        """A market trade (`@trade` / `@aggTrade`) as a price tick."""
        if message.get("e") not in ("trade", "aggTrade"):
            return None
        return PriceTick(
            symbol=str(message["s"]),
            price=d(message["p"]),
            ts_event_ms=int(message.get("T") or message.get("E") or 0),
            seq=int(message.get("t") or message.get("a") or 0),
            volume=d(message.get("q")),
        )

    def kline(self, message: Mapping[str, Any]) -> Kline | None:
        """A candle event (`@kline_<interval>`)."""
        if message.get("e") != "kline":
            return None
        k: Mapping[str, Any] = message["k"]
        return Kline(
            symbol=str(k["s"]),
            interval=str(k["i"]),
            open_ms=int(k["t"]),
            close_ms=int(k["T"]),
            open=d(k["o"]),
            high=d(k["h"]),
            low=d(k["l"]),
            close=d(k["c"]),
            volume=d(k["v"]),
            closed=bool(k.get("x")),
        )


COMMON_OPTIONS: dict[str, Any] = {
    "fetchCurrencies": False,  # no sapi calls at start (they need wallet permissions)
    "fetchMargins": False,
    "fetchOpenOrders": {"warnWithoutSymbol": False},
    "watchPositions": {"fetchPositionsSnapshot": False},
    "disableFuturesSandboxWarning": True,
}
DIALECTS: dict[str, Dialect] = {
    "binanceusdm": Dialect(
        "binanceusdm", spot=False, options=COMMON_OPTIONS, trades_window_ms=7 * 86_400_000
    ),
    "binance": Dialect(
        "binance",
        spot=True,
        options={**COMMON_OPTIONS, "defaultType": "spot", "fetchMarkets": {"types": ["spot"]}},
        trades_window_ms=86_400_000,
    ),
}


# Request weight (per IP) and orders (per account) of each Binance endpoint, as Binance
# documents them: (method, URL path) -> (weight, weight without a symbol, orders).
WEIGHTS: dict[tuple[str, str], tuple[int, int, int]] = {
    ("POST", "/fapi/v1/order"): (1, 1, 1),
    ("DELETE", "/fapi/v1/order"): (1, 1, 0),
    ("GET", "/fapi/v1/order"): (1, 1, 0),
    ("GET", "/fapi/v1/openOrders"): (1, 40, 0),
    ("DELETE", "/fapi/v1/allOpenOrders"): (1, 1, 0),
    ("POST", "/fapi/v1/batchOrders"): (5, 5, 5),
    ("GET", "/fapi/v1/userTrades"): (5, 5, 0),
    ("GET", "/fapi/v2/positionRisk"): (5, 5, 0),
    ("GET", "/fapi/v3/positionRisk"): (5, 5, 0),
    ("GET", "/fapi/v2/account"): (5, 5, 0),
    ("GET", "/fapi/v3/account"): (5, 5, 0),
    ("GET", "/fapi/v1/commissionRate"): (20, 20, 0),
    ("GET", "/fapi/v1/accountConfig"): (5, 5, 0),
    ("GET", "/fapi/v1/leverageBracket"): (1, 1, 0),
    ("GET", "/fapi/v1/exchangeInfo"): (1, 1, 0),
    ("GET", "/fapi/v1/ticker/24hr"): (1, 40, 0),
    ("GET", "/fapi/v1/ticker/price"): (1, 2, 0),
    ("GET", "/fapi/v1/time"): (1, 1, 0),
    ("POST", "/fapi/v1/listenKey"): (1, 1, 0),
    ("PUT", "/fapi/v1/listenKey"): (1, 1, 0),
    ("POST", "/api/v3/order"): (1, 1, 1),
    ("DELETE", "/api/v3/order"): (1, 1, 0),
    ("GET", "/api/v3/order"): (4, 4, 0),
    ("GET", "/api/v3/openOrders"): (6, 80, 0),
    ("DELETE", "/api/v3/openOrders"): (1, 1, 0),
    ("GET", "/api/v3/myTrades"): (20, 20, 0),
    ("GET", "/api/v3/account"): (20, 20, 0),
    ("GET", "/api/v3/exchangeInfo"): (20, 20, 0),
    ("GET", "/api/v3/ticker/24hr"): (2, 80, 0),
    ("GET", "/api/v3/ticker/price"): (2, 4, 0),
    ("GET", "/api/v3/time"): (1, 1, 0),
    ("GET", "/sapi/v1/asset/tradeFee"): (1, 1, 0),
}
API_PATHS = {
    "fapiPublic": "/fapi/v1/",
    "fapiPrivate": "/fapi/v1/",
    "fapiPublicV2": "/fapi/v2/",
    "fapiPrivateV2": "/fapi/v2/",
    "fapiPublicV3": "/fapi/v3/",
    "fapiPrivateV3": "/fapi/v3/",
    "fapiData": "/futures/data/",
    "public": "/api/v3/",
    "private": "/api/v3/",
    "v3": "/api/v3/",
    "sapi": "/sapi/v1/",
}


def request_weight(api: Any, method: str, path: str, params: Mapping[str, Any]) -> tuple[int, int]:
    """Return (weight, orders) of one REST call as ccxt names it (api, method, path)."""
    name = api[0] if isinstance(api, list | tuple) and api else str(api)
    url = API_PATHS.get(name, "/") + path
    weight, no_symbol, orders = WEIGHTS.get((method.upper(), url), (1, 1, 0))
    if url.endswith("/klines"):
        limit = int(params.get("limit") or 500)
        weight = 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    if url.endswith("/batchOrders"):
        orders = max(1, str(params.get("batchOrders", "")).count("{"))
    return (weight if params.get("symbol") else no_symbol), orders

"""The Binance-speaking simulator as an ASGI app: Binance's REST paths and websockets, checked
as Binance checks them (signing, weights, 429 / 418), over the sim's matching engine.

USDⓈ-M perpetuals answer under `/fapi`, their market streams on `/market/ws/N` and
`/public/ws/N`, their user stream on `/private/ws?listenKey=K`; spot answers under `/api/v3`,
its market streams on `/ws/N`, its user stream through the WebSocket API (`/ws-api/v3`,
`userDataStream.subscribe.signature`). `/_sim/...` is the test bed's own control (prices,
faults, bans, figures): not Binance's, never signed, bound to loopback by the CLI.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mmtasks.sim.binance import shapes
from mmtasks.sim.binance.auth import Signer
from mmtasks.sim.binance.errors import BinanceError, bad_request
from mmtasks.sim.binance.limits import LimitConfig, RateLimits
from mmtasks.sim.binance.markets import Market
from mmtasks.sim.binance.spot import SpotMarket
from mmtasks.sim.binance.streams import (
    MarketStreams,
    UserStreams,
)
from mmtasks.sim.binance.usdm import UsdmMarket
from mmtasks.sim.engine import ShiftedClock, wall_clock_ms

log = logging.getLogger(__name__)

Handler = Callable[["Call"], Any]
NONE, USER_STREAM, SIGNED = "NONE", "USER_STREAM", "SIGNED"


@dataclass
class Call:
    """One REST request as a handler sees it: its market, parameters and (if signed) key."""

    market: Market
    params: dict[str, str]
    api_key: str
    ip: str


@dataclass(frozen=True)
class Endpoint:
    handler: Handler
    weight: Callable[[dict[str, str]], int]
    security: str = NONE
    orders: Callable[[dict[str, str]], int] = lambda p: 0


def w(n: int, without_symbol: int | None = None) -> Callable[[dict[str, str]], int]:
    """A weight, or a different one when no symbol is given (Binance's all-symbols price)."""
    return lambda p: n if without_symbol is None or p.get("symbol") else without_symbol


def kline_weight(p: dict[str, str]) -> int:
    limit = int(p.get("limit") or 500)
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


@dataclass
class Faults:
    """What the test bed makes go wrong (see `/_sim/faults`)."""

    accept_then_fail: int = 0  # next N new orders are placed, then answered with a 5xx
    fail_status: int = 503
    fail_body: str = "json"  # json: Binance's -1007 body; html: a proxy's error page
    latency_ms: int = 0
    # (path prefix, method or "" for any, HTTP status, code, msg, Retry-After s): the next
    # matching request fails so
    error_next: list[tuple[str, str, int, int, str, int]] = field(default_factory=list)
    # (path prefix, method or "" for any, ms): the next matching request is acted on only that
    # long after it arrived (a slow matching engine: its effect lands late, not only its answer)
    delay_next: list[tuple[str, str, int]] = field(default_factory=list)


class BinanceSim:
    """The app's state: both markets, their streams, the signer, the limits and the faults."""

    def __init__(
        self, usdm: UsdmMarket, spot: SpotMarket, signer: Signer, limits: LimitConfig
    ) -> None:
        self.usdm, self.spot = usdm, spot
        self.signer = signer
        self.limits = RateLimits(limits, wall_clock_ms)  # the markets' clock may be set back
        self.faults = Faults()
        self.listen_keys: dict[str, str] = {}
        self.weight_history: list[tuple[int, int]] = []  # (minute start ms, weight used)
        self.usdm_users = UserStreams(usdm, lambda e: e)
        self.spot_users = UserStreams(spot, lambda e: {"subscriptionId": 0, "event": e})
        self.usdm_market = MarketStreams(usdm)
        self.spot_market = MarketStreams(spot)
        self.requests = 0
        self.requests_by_path: dict[str, int] = {}
        self.clock = ShiftedClock()  # the markets' clock once the server wires it (server.build)

    def market(self, path: str) -> Market:
        return self.usdm if path.startswith("/fapi") else self.spot


# -- REST handlers ---------------------------------------------------------------------------


def _time(c: Call) -> Any:
    return {"serverTime": wall_clock_ms()}  # what signatures are checked against


def _new_order(c: Call) -> Any:
    order = c.market.new_order(c.params)
    body = c.market.order_shape(order)
    if isinstance(c.market, SpotMarket):
        trades = [
            t
            for t in c.market.engine.trades(order.symbol, order.created_ms, 100_000)
            if t.order_id == order.order_id
        ]
        body["fills"] = [
            {
                "price": shapes.num(t.price),
                "qty": shapes.num(t.quantity),
                "commission": shapes.num(t.fee),
                "commissionAsset": t.fee_asset,
                "tradeId": int(t.trade_id),
            }
            for t in trades
        ]
    return body


def _batch_orders(c: Call) -> Any:
    try:
        items = json.loads(c.params.get("batchOrders", ""))
    except ValueError:
        raise bad_request(-1130, "Data sent for parameter 'batchOrders' is not valid.") from None
    if not isinstance(items, list) or not 1 <= len(items) <= 5:
        raise bad_request(-1130, "Data sent for parameter 'batchOrders' is not valid.")
    out: list[Any] = []
    for item in items:
        params = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in item.items()}
        try:
            out.append(c.market.order_shape(c.market.new_order(params)))
        except BinanceError as exc:
            out.append(exc.body())
    return out


def _cancel_all(c: Call) -> Any:
    c.market.cancel_all(c.params)
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def _listen_key(c: Call) -> Any:
    return {"listenKey": c.params["__listen_key__"]}


def _brackets(c: Call) -> Any:
    return [
        {
            "symbol": s,
            "brackets": [
                {
                    "bracket": 1,
                    "initialLeverage": 20,
                    "notionalCap": 1_000_000,
                    "notionalFloor": 0,
                    "maintMarginRatio": 0.004,
                    "cum": 0,
                }
            ],
        }
        for s in c.market.engine.symbols
    ]


def _usdm(fn: Callable[[UsdmMarket, dict[str, str]], Any]) -> Handler:
    def handler(c: Call) -> Any:
        assert isinstance(c.market, UsdmMarket)
        return fn(c.market, c.params)

    return handler


def _spot(fn: Callable[[SpotMarket, dict[str, str]], Any]) -> Handler:
    def handler(c: Call) -> Any:
        assert isinstance(c.market, SpotMarket)
        return fn(c.market, c.params)

    return handler


def _empty(c: Call) -> Any:
    return []


def _ok(c: Call) -> Any:
    return {}


ORDER = lambda p: 1  # noqa: E731 - one order counted against the account's order limits


ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    # USDⓈ-M futures
    ("GET", "/fapi/v1/ping"): Endpoint(_ok, w(1)),
    ("GET", "/fapi/v1/time"): Endpoint(_time, w(1)),
    ("GET", "/fapi/v1/exchangeInfo"): Endpoint(_usdm(lambda m, p: m.exchange_info()), w(1)),
    ("GET", "/fapi/v1/klines"): Endpoint(lambda c: c.market.klines(c.params), kline_weight),
    ("GET", "/fapi/v1/ticker/24hr"): Endpoint(lambda c: c.market.ticker_24hr(c.params), w(1, 40)),
    ("GET", "/fapi/v1/ticker/price"): Endpoint(lambda c: c.market.ticker_price(c.params), w(1, 2)),
    ("GET", "/fapi/v2/ticker/price"): Endpoint(lambda c: c.market.ticker_price(c.params), w(1, 2)),
    ("POST", "/fapi/v1/order"): Endpoint(_new_order, w(1), SIGNED, ORDER),
    ("GET", "/fapi/v1/order"): Endpoint(lambda c: c.market.get_order(c.params), w(1), SIGNED),
    ("DELETE", "/fapi/v1/order"): Endpoint(lambda c: c.market.cancel_order(c.params), w(1), SIGNED),
    ("POST", "/fapi/v1/batchOrders"): Endpoint(
        _batch_orders, w(5), SIGNED, lambda p: max(1, p.get("batchOrders", "").count("{"))
    ),
    ("GET", "/fapi/v1/openOrders"): Endpoint(
        lambda c: c.market.open_orders(c.params), w(1, 40), SIGNED
    ),
    ("DELETE", "/fapi/v1/allOpenOrders"): Endpoint(_cancel_all, w(1), SIGNED),
    ("GET", "/fapi/v1/userTrades"): Endpoint(lambda c: c.market.my_trades(c.params), w(5), SIGNED),
    ("GET", "/fapi/v1/leverageBracket"): Endpoint(_brackets, w(1), SIGNED),
    ("GET", "/fapi/v2/positionRisk"): Endpoint(_usdm(lambda m, p: m.positions()), w(5), SIGNED),
    ("GET", "/fapi/v3/positionRisk"): Endpoint(_usdm(lambda m, p: m.positions()), w(5), SIGNED),
    ("GET", "/fapi/v2/account"): Endpoint(_usdm(lambda m, p: m.account()), w(5), SIGNED),
    ("GET", "/fapi/v3/account"): Endpoint(_usdm(lambda m, p: m.account()), w(5), SIGNED),
    ("GET", "/fapi/v2/balance"): Endpoint(_usdm(lambda m, p: m.account()["assets"]), w(5), SIGNED),
    ("GET", "/fapi/v1/commissionRate"): Endpoint(
        _usdm(lambda m, p: m.commission_rate(p)), w(20), SIGNED
    ),
    ("GET", "/fapi/v1/accountConfig"): Endpoint(
        lambda c: {
            "feeTier": 0,
            "canTrade": True,
            "dualSidePosition": False,
            "multiAssetsMargin": False,
        },
        w(5),
        SIGNED,
    ),
    ("POST", "/fapi/v1/listenKey"): Endpoint(_listen_key, w(1), USER_STREAM),
    ("PUT", "/fapi/v1/listenKey"): Endpoint(_listen_key, w(1), USER_STREAM),
    ("DELETE", "/fapi/v1/listenKey"): Endpoint(_ok, w(1), USER_STREAM),
    # what ccxt's load_markets asks when keys are set (no margin, no currencies here)
    ("GET", "/sapi/v1/capital/config/getall"): Endpoint(_empty, w(1), SIGNED),
    ("GET", "/sapi/v1/margin/allPairs"): Endpoint(_empty, w(1), SIGNED),
    ("GET", "/sapi/v1/margin/isolated/allPairs"): Endpoint(_empty, w(1), SIGNED),
    # spot
    ("GET", "/api/v3/ping"): Endpoint(_ok, w(1)),
    ("GET", "/api/v3/time"): Endpoint(_time, w(1)),
    ("GET", "/api/v3/exchangeInfo"): Endpoint(_spot(lambda m, p: m.exchange_info()), w(20)),
    ("GET", "/api/v3/klines"): Endpoint(lambda c: c.market.klines(c.params), w(2)),
    ("GET", "/api/v3/ticker/24hr"): Endpoint(lambda c: c.market.ticker_24hr(c.params), w(2, 80)),
    ("GET", "/api/v3/ticker/price"): Endpoint(lambda c: c.market.ticker_price(c.params), w(2, 4)),
    ("POST", "/api/v3/order"): Endpoint(_new_order, w(1), SIGNED, ORDER),
    ("GET", "/api/v3/order"): Endpoint(lambda c: c.market.get_order(c.params), w(4), SIGNED),
    ("DELETE", "/api/v3/order"): Endpoint(lambda c: c.market.cancel_order(c.params), w(1), SIGNED),
    ("GET", "/api/v3/openOrders"): Endpoint(
        lambda c: c.market.open_orders(c.params), w(6, 80), SIGNED
    ),
    ("DELETE", "/api/v3/openOrders"): Endpoint(
        lambda c: [c.market.order_shape(o) for o in c.market.cancel_all(c.params)], w(1), SIGNED
    ),
    ("GET", "/api/v3/myTrades"): Endpoint(lambda c: c.market.my_trades(c.params), w(20), SIGNED),
    ("GET", "/api/v3/account"): Endpoint(_spot(lambda m, p: m.account()), w(20), SIGNED),
    ("GET", "/sapi/v1/asset/tradeFee"): Endpoint(_spot(lambda m, p: m.trade_fees(p)), w(1), SIGNED),
}


def _error(exc: BinanceError, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        exc.body(), status_code=exc.status, headers={**(headers or {}), **exc.headers}
    )


async def _body_text(request: Request) -> str:
    return (await request.body()).decode("utf-8", errors="replace")


def _params(query: str, body: str) -> dict[str, str]:
    # Binance's batchOrders body is raw JSON inside a form: keep '+' as it is, not a space.
    out = dict(parse_qsl(query, keep_blank_values=True))
    out.update(dict(parse_qsl(body.replace("+", "%2B"), keep_blank_values=True)))
    return out


def rest(sim: BinanceSim) -> Callable[[Request], Awaitable[Response]]:
    """The one REST entry: route, weight and limits, signature, faults, then the handler."""

    async def endpoint(request: Request) -> Response:
        path, method = request.url.path, request.method
        found = ENDPOINTS.get((method, path))
        ip = request.client.host if request.client else "?"
        sim.requests += 1
        key = f"{method} {path}"
        sim.requests_by_path[key] = sim.requests_by_path.get(key, 0) + 1
        if found is None:
            return JSONResponse({"code": -1000, "msg": f"Unknown endpoint {method} {path}."}, 404)
        query = request.url.query
        body = await _body_text(request)
        params = _params(query, body)
        headers: dict[str, str] = {}
        try:
            headers = sim.limits.admit(ip, found.weight(params))
            api_key = ""
            if found.security == SIGNED:
                api_key = sim.signer.check(request.headers, query, body, params)
            elif found.security == USER_STREAM:
                api_key = sim.signer.api_key(request.headers)
                params["__listen_key__"] = sim.listen_keys.setdefault(
                    api_key, secrets.token_urlsafe(45)
                )
            orders = found.orders(params)
            for _ in range(orders):
                headers.update(sim.limits.count_order(ip, api_key))
            for i, (prefix, verb, status, code, msg, wait) in enumerate(sim.faults.error_next):
                if path.startswith(prefix) and verb in ("", method):
                    del sim.faults.error_next[i]
                    raise BinanceError(
                        status, code, msg, {"Retry-After": str(wait)} if wait else {}
                    )
            if sim.faults.latency_ms:
                await asyncio.sleep(sim.faults.latency_ms / 1000)
            for i, (prefix, verb, ms) in enumerate(sim.faults.delay_next):
                if path.startswith(prefix) and verb in ("", method):
                    del sim.faults.delay_next[i]
                    await asyncio.sleep(ms / 1000)
                    break
            result = found.handler(Call(sim.market(path), params, api_key, ip))
            if orders and sim.faults.accept_then_fail > 0 and found.handler is _new_order:
                sim.faults.accept_then_fail -= 1
                return _accepted_then_failed(sim.faults)
            return JSONResponse(result, headers=headers)
        except BinanceError as exc:
            return _error(exc, headers)

    return endpoint


def _accepted_then_failed(faults: Faults) -> Response:
    """The answer of a gateway that lost the matching engine's reply: status unknown."""
    if faults.fail_body == "html":
        return Response(
            "<html><body>502 Bad Gateway</body></html>", faults.fail_status, media_type="text/html"
        )
    return JSONResponse(
        {
            "code": -1007,
            "msg": "Timeout waiting for response from backend server. Send status "
            "unknown; execution status unknown.",
        },
        faults.fail_status,
    )

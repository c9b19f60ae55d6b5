"""The simulator speaks Binance's wire: raw HTTP, no ccxt, every answer as Binance documents it.

Signing (HMAC-SHA256 over the query and body, `timestamp`, `recvWindow`, `X-MBX-APIKEY`), the
error codes, the weight headers, 429 with Retry-After past the limit and 418 for a client that
keeps sending.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from mmtasks.sim.binance.limits import LimitConfig
from mmtasks.sim.binance.server import SimServer
from tests.binance.conftest import now_ms, set_price, signed

ORDER = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTX",
    "quantity": "0.001",
    "price": "29000",
}


def test_a_wrong_signature_is_refused_with_1022_and_a_stale_timestamp_with_1021(
    sim: SimServer,
) -> None:
    base = sim.base_url
    wrong = signed(base, "GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"}, secret="not-it")
    stale = signed(
        base, "GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"}, timestamp=now_ms() - 6_000
    )
    ahead = signed(
        base, "GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"}, timestamp=now_ms() + 5_000
    )
    unknown_key = signed(base, "GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"}, key="nobody")
    good = signed(base, "GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"})

    assert (wrong.status_code, wrong.json()) == (
        400,
        {"code": -1022, "msg": "Signature for this request is not valid."},
    )
    # recvWindow defaults to 5000 ms: 6 s old is outside it.
    assert (stale.status_code, stale.json()) == (
        400,
        {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."},
    )
    assert ahead.json() == {
        "code": -1021,
        "msg": "Timestamp for this request was 1000ms ahead of the server's time.",
    }
    assert (unknown_key.status_code, unknown_key.json()["code"]) == (401, -2015)
    assert (good.status_code, good.json()) == (200, [])


def test_a_signed_post_carries_its_signature_in_the_body_and_a_longer_recv_window_admits_it(
    sim: SimServer,
) -> None:
    base = sim.base_url
    placed = signed(
        base,
        "POST",
        "/fapi/v1/order",
        {**ORDER, "newClientOrderId": "b1", "recvWindow": "10000"},
        timestamp=now_ms() - 6_000,
    )
    assert placed.status_code == 200, placed.text
    assert placed.json()["clientOrderId"] == "b1" and placed.json()["status"] == "NEW"
    # The order counts: weight 1 for the IP, 1 order in each of the account's windows.
    assert placed.headers["x-mbx-order-count-10s"] == "1"
    assert placed.headers["x-mbx-order-count-1m"] == "1"
    assert int(placed.headers["x-mbx-used-weight-1m"]) >= 1


def test_orders_are_refused_with_binances_codes_and_a_refused_order_leaves_its_id_free(
    sim: SimServer,
) -> None:
    base = sim.base_url

    def place(**changes: str) -> httpx.Response:
        return signed(base, "POST", "/fapi/v1/order", {**ORDER, **changes})

    # BTCUSDT: tick 0.01, step 0.00001, min notional 5, last price 30000.
    assert place(price="29000.005").json()["code"] == -4014
    assert place(quantity="0.000015").json()["code"] == -1111
    assert place(quantity="0.0001").json() == {
        "code": -4164,
        "msg": "Order's notional must be no smaller than 5 (unless you choose reduce only).",
    }
    crossing = place(price="30000", newClientOrderId="x1")
    assert crossing.json()["code"] == -5022
    # Refused at the door: never recorded, so the id can be used again.
    gone = signed(base, "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "x1"})
    assert gone.json() == {"code": -2013, "msg": "Order does not exist."}
    assert place(newClientOrderId="x1").json()["status"] == "NEW"
    assert place(newClientOrderId="x1").json() == {
        "code": -4116,
        "msg": "ClientOrderId is duplicated.",
    }
    # Reduce-only that would open a position.
    assert place(side="SELL", price="31000", reduceOnly="true").json() == {
        "code": -2022,
        "msg": "ReduceOnly Order is rejected.",
    }
    unknown = signed(base, "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": "1"})
    assert unknown.json() == {"code": -2011, "msg": "Unknown order sent."}
    bad_symbol = place(symbol="NOPEUSDT")
    assert bad_symbol.json() == {"code": -1121, "msg": "Invalid symbol."}


def test_a_fill_shows_in_user_trades_position_and_account_as_binance_words_them(
    sim: SimServer,
) -> None:
    base = sim.base_url
    order = signed(base, "POST", "/fapi/v1/order", {**ORDER, "newClientOrderId": "f1"}).json()

    set_price(sim, "BTCUSDT", "28990")

    # Maker fill at 29000 of 0.001: fee 0.0002 x 29 = 0.0058 USDT.
    [trade] = signed(base, "GET", "/fapi/v1/userTrades", {"symbol": "BTCUSDT"}).json()
    assert {k: trade[k] for k in ("orderId", "price", "qty", "quoteQty", "commission")} == {
        "orderId": order["orderId"],
        "price": "29000",
        "qty": "0.001",
        "quoteQty": "29",
        "commission": "0.0058",
    }
    assert trade["maker"] is True and trade["side"] == "BUY"
    looked_up = signed(
        base, "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": str(order["orderId"])}
    )
    assert looked_up.json()["status"] == "FILLED"
    [btc, _] = signed(base, "GET", "/fapi/v3/positionRisk", {}).json()
    # Long 0.001 at 29000 marked at 28990: -0.01; notional 28.99.
    assert (btc["positionAmt"], btc["entryPrice"], btc["unRealizedProfit"], btc["notional"]) == (
        "0.001",
        "29000",
        "-0.01",
        "28.99",
    )
    [usdt] = signed(base, "GET", "/fapi/v3/account", {}).json()["assets"]
    assert usdt["walletBalance"] == "999999.9942"  # 1,000,000 - 0.0058


def test_a_trades_query_spans_one_window_as_binance_allows(sim: SimServer) -> None:
    # Arrange: a fill now.
    base = sim.base_url
    signed(base, "POST", "/fapi/v1/order", {**ORDER, "newClientOrderId": "w1"}).raise_for_status()
    set_price(sim, "BTCUSDT", "28990")
    day, now = 86_400_000, now_ms()

    def trades(path: str, **params: int) -> httpx.Response:
        return signed(
            base, "GET", path, {"symbol": "BTCUSDT", **{k: str(v) for k, v in params.items()}}
        )

    # Act + Assert: USDⓈ-M spans 7 days at most (-1127 beyond); startTime alone is one window
    # from it, so 8 days back it holds nothing; the window that reaches now holds the fill.
    refused = trades("/fapi/v1/userTrades", startTime=now - 8 * day, endTime=now)
    assert (refused.status_code, refused.json()["code"]) == (400, -1127)
    assert trades("/fapi/v1/userTrades", startTime=now - 8 * day).json() == []
    [fill] = trades("/fapi/v1/userTrades", startTime=now - 6 * day).json()
    assert fill["price"] == "29000"
    # Spot: 24 hours at most.
    refused = trades("/api/v3/myTrades", startTime=now - 2 * day, endTime=now)
    assert refused.json() == {
        "code": -1127,
        "msg": "More than 24 hours between startTime and endTime.",
    }


def test_spot_refuses_a_sell_without_the_asset_and_a_limit_maker_that_would_take(
    sim: SimServer,
) -> None:
    base = sim.base_url
    order = {"symbol": "BTCUSDT", "quantity": "0.001", "type": "LIMIT_MAKER"}
    sell = signed(base, "POST", "/api/v3/order", {**order, "side": "SELL", "price": "31000"})
    take = signed(base, "POST", "/api/v3/order", {**order, "side": "BUY", "price": "30000"})
    buy = signed(base, "POST", "/api/v3/order", {**order, "side": "BUY", "price": "29000"})

    assert sell.json() == {
        "code": -2010,
        "msg": "Account has insufficient balance for requested action.",
    }
    assert take.json() == {"code": -2010, "msg": "Order would immediately match and take."}
    assert buy.json()["type"] == "LIMIT_MAKER" and buy.json()["fills"] == []
    # 29 USDT are locked by the resting buy.
    balances = signed(base, "GET", "/api/v3/account", {}).json()["balances"]
    assert {"asset": "USDT", "free": "999971", "locked": "29"} in balances


def test_past_the_weight_limit_429_with_retry_after_then_418_for_a_client_that_keeps_going(
    make_sim: Callable[..., SimServer],
) -> None:
    server = make_sim(limits=LimitConfig(weight_per_minute=10, ban_after=2, ban_s=30))
    base = server.base_url
    into_minute = now_ms() % 60_000
    if into_minute > 50_000:  # the windows are fixed minutes: start well inside one
        time.sleep((60_000 - into_minute) / 1000)

    answers = [httpx.get(f"{base}/fapi/v1/ping") for _ in range(14)]

    codes = [a.status_code for a in answers]
    # 10 fit the minute; the 11th is told to wait; sending on while told earns strikes, the
    # second strike is a ban; everything after is 418 until it ends.
    assert codes[:10] == [200] * 10, codes
    assert codes[10] == 429
    assert set(codes[11:]) <= {429, 418} and codes[-1] == 418, codes
    assert 1 <= int(answers[10].headers["retry-after"]) <= 60
    assert answers[10].json()["code"] == -1003
    assert 25 <= int(answers[-1].headers["retry-after"]) <= 30
    assert answers[9].headers["x-mbx-used-weight-1m"] == "10"
    stats = httpx.get(f"{base}/_sim/stats").json()
    assert stats["answered_429"] >= 1 and stats["answered_418"] >= 1
    assert max(m["max"] for m in stats["weight_by_minute"]) <= 10


def test_an_operator_ban_answers_418_to_every_client_until_it_ends(
    sim: SimServer,
) -> None:
    httpx.post(f"{sim.base_url}/_sim/ban", json={"seconds": 30}).raise_for_status()

    banned = httpx.get(f"{sim.base_url}/fapi/v1/time")
    signed_call = signed(sim.base_url, "GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"})

    assert banned.status_code == signed_call.status_code == 418
    assert banned.json()["code"] == -1003
    assert 29 <= int(banned.headers["retry-after"]) <= 30


def test_the_user_socket_is_told_from_the_market_sockets_by_its_url() -> None:
    from mmtasks.venues.ccxt.binance import DIALECTS

    usdm, spot = DIALECTS["binanceusdm"], DIALECTS["binance"]
    options = {"future": {"listenKey": "K123"}, "spot": {}, "defaultType": "future"}
    # USDⓈ-M's user stream, as ccxt spells it (query or path), and spot's WebSocket API.
    assert usdm.user_socket("wss://fstream.binance.com/private/ws?listenKey=K123", options)
    assert usdm.user_socket("wss://fstream.binance.com/ws/K123", options)
    assert spot.user_socket("wss://ws-api.binance.com:443/ws-api/v3", {})
    # Market sockets: trades and candles.
    assert not usdm.user_socket("wss://fstream.binance.com/market/ws/1", options)
    assert not usdm.user_socket("wss://fstream.binance.com/public/ws/2", options)
    assert not spot.user_socket("wss://stream.binance.com:9443/ws/3", options)

"""Bad requests are answered INVALID_ARGUMENT with a useful message and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from mmtasks.connector.client import ExchangeClient
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def good(**changes: Any) -> pb.PlaceOrderRequest:
    fields: dict[str, Any] = {
        "symbol": "BTCUSDT",
        "side": pb.SIDE_BUY,
        "type": pb.ORDER_TYPE_LIMIT,
        "time_in_force": pb.TIME_IN_FORCE_GTC,
        "price": "25000",
        "quantity": "0.001",
        "client_order_id": "valGood1",
    }
    fields.update(changes)
    return pb.PlaceOrderRequest(**fields)


def state(client: ExchangeClient) -> tuple[Any, ...]:
    return (client.open_orders(), client.positions(), client.trades(), client.account())


@pytest.fixture
def unchanged(client: ExchangeClient) -> Iterator[None]:
    """Assert that the exchange state is the same after the test as before it."""
    before = state(client)
    yield
    assert state(client) == before


def rpc_error(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        result = call(request, timeout=5)
        if hasattr(result, "__next__"):
            next(result)  # a stream reports its status on the first read
    return caught.value


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            good(side=pb.SIDE_UNSPECIFIED),
            "side must be SIDE_BUY or SIDE_SELL, received SIDE_UNSPECIFIED",
        ),
        (
            good(type=pb.ORDER_TYPE_UNSPECIFIED),
            "type must be ORDER_TYPE_LIMIT or ORDER_TYPE_MARKET, received ORDER_TYPE_UNSPECIFIED",
        ),
        (good(time_in_force=pb.TIME_IN_FORCE_UNSPECIFIED), "received TIME_IN_FORCE_UNSPECIFIED"),
        (good(quantity="-1"), "quantity must be > 0, received -1"),
        (good(quantity="0"), "quantity must be > 0, received 0"),
        (good(quantity="lots"), "quantity must be a decimal string, received 'lots'"),
        (good(quantity="NaN"), "quantity must be finite"),
        (good(price="abc"), "price must be a decimal string, received 'abc'"),
        (good(price=""), "price must be a decimal string, received ''"),
        (good(price="-5"), "price must be > 0, received -5"),
        (
            good(price="25000.001"),
            "price 25000.001 is not a multiple of tick size 0.01 for BTCUSDT",
        ),
        (good(quantity="0.000011"), "quantity 0.000011 is not a multiple of step size 0.00001"),
        (good(quantity="0.0001"), "is below min notional 5 for BTCUSDT"),
        (good(symbol="XRPUSDT"), "symbol 'XRPUSDT' is not traded here"),
        (good(symbol=""), "symbol is required, received ''"),
        (good(symbol="btc/usdt"), "symbol must be 2-20 letters or digits"),
        (good(client_order_id="has space"), "client_order_id must be 1-32 letters or digits"),
        (good(type=pb.ORDER_TYPE_MARKET, price="1"), "price must be empty for a MARKET order"),
    ],
)
def test_bad_place_order_is_invalid_argument_and_changes_nothing(
    stub: pb_grpc.ExchangeServiceStub, unchanged: None, request_: Any, message: str
) -> None:
    error = rpc_error(stub.PlaceOrder, request_)

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert message in error.details()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("method", "request_", "message"),
    [
        (
            "CancelOrder",
            pb.CancelOrderRequest(symbol="BTCUSDT"),
            "order_id or client_order_id is required",
        ),
        ("CancelOrder", pb.CancelOrderRequest(order_id="1"), "symbol is required"),
        (
            "GetOrder",
            pb.GetOrderRequest(symbol="BTCUSDT"),
            "order_id or client_order_id is required",
        ),
        ("CancelAllOrders", pb.CancelAllOrdersRequest(), "symbol is required"),
        ("GetOpenOrders", pb.GetOpenOrdersRequest(symbol="NOPEUSDT"), "not traded here"),
        ("GetPositions", pb.GetPositionsRequest(symbol="NOPEUSDT"), "not traded here"),
        ("GetSymbolInfo", pb.GetSymbolInfoRequest(symbol="NOPEUSDT"), "not traded here"),
        ("GetLatestPrice", pb.GetLatestPriceRequest(), "symbol is required"),
        (
            "GetHistoricalKlines",
            pb.GetHistoricalKlinesRequest(symbol="BTCUSDT", interval="7m"),
            "interval must be one of",
        ),
        (
            "GetHistoricalKlines",
            pb.GetHistoricalKlinesRequest(symbol="BTCUSDT", limit=5000),
            "limit must be 0..1000",
        ),
        ("GetTrades", pb.GetTradesRequest(since_ms=-1), "since_ms must be >= 0, received -1"),
        (
            "BatchPlaceOrders",
            pb.BatchPlaceOrdersRequest(),
            "orders must hold 1..1000 items, received 0",
        ),
        (
            "BatchCancelOrders",
            pb.BatchCancelOrdersRequest(),
            "orders must hold 1..1000 items, received 0",
        ),
        ("SubscribePrice", pb.SubscribePriceRequest(symbols=["NOPEUSDT"]), "not traded here"),
        ("SubscribeKlines", pb.SubscribeKlinesRequest(interval="2m"), "interval must be one of"),
    ],
)
def test_other_bad_requests_are_invalid_argument(
    stub: pb_grpc.ExchangeServiceStub, unchanged: None, method: str, request_: Any, message: str
) -> None:
    error = rpc_error(getattr(stub, method), request_)

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert message in error.details()  # type: ignore[attr-defined]


def test_batch_place_answers_per_item_errors_without_aborting(
    stub: pb_grpc.ExchangeServiceStub, client: ExchangeClient
) -> None:
    response = stub.BatchPlaceOrders(
        pb.BatchPlaceOrdersRequest(
            orders=[
                good(client_order_id="valBatch1"),
                good(client_order_id="valBatch2", side=pb.SIDE_UNSPECIFIED),
                good(client_order_id="valBatch3", symbol="NOPEUSDT"),
                good(client_order_id="valBatch1"),
            ]
        ),
        timeout=5,
    )

    kinds = [(r.HasField("order"), r.duplicate, r.error.code) for r in response.results]
    assert kinds == [
        (True, False, ""),
        (False, False, "INVALID_ARGUMENT"),
        (False, False, "INVALID_ARGUMENT"),
        (True, True, ""),
    ]
    assert "side must be" in response.results[1].error.message
    open_ids = {o.client_order_id for o in client.open_orders()}
    assert "valBatch1" in open_ids and not {"valBatch2", "valBatch3"} & open_ids


def test_batch_cancel_answers_per_item_errors(
    stub: pb_grpc.ExchangeServiceStub, client: ExchangeClient
) -> None:
    client.place_order("ETHUSDT", "BUY", "1500", "0.01", "valBc1")
    client.place_order("ETHUSDT", "BUY", "1500", "0.01", "valBc2")
    client.cancel_order("ETHUSDT", client_order_id="valBc2")

    response = stub.BatchCancelOrders(
        pb.BatchCancelOrdersRequest(
            orders=[
                pb.CancelOrderRequest(symbol="ETHUSDT", client_order_id="valBc1"),
                pb.CancelOrderRequest(symbol="ETHUSDT", client_order_id="valBc2"),
                pb.CancelOrderRequest(symbol="ETHUSDT", client_order_id="valNone"),
                pb.CancelOrderRequest(symbol="ETHUSDT"),
            ]
        ),
        timeout=5,
    )

    codes = [r.error.code for r in response.results]
    assert codes == ["", "FAILED_PRECONDITION", "NOT_FOUND", "INVALID_ARGUMENT"]
    assert response.results[0].order.status == pb.ORDER_STATUS_CANCELED
    assert "already CANCELED" in response.results[1].error.message

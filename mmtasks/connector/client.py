"""Sync gRPC clients of the connector, for Celery workers and tests.

Every call has a deadline and every failure becomes an mmtasks error in one place
(`mmtasks.connector.errors.error_for`): INVALID_ARGUMENT -> ValidationError, NOT_FOUND (and
FAILED_PRECONDITION on a cancel) -> OrderNotFoundError, UNAVAILABLE / RESOURCE_EXHAUSTED ->
TemporaryError, DEADLINE_EXCEEDED -> AmbiguousOutcomeError. A REJECTED order is returned, not
raised: the caller records it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

import grpc

from mmtasks.connector.convert import SIDE_TO_PB, TIF_TO_PB, TYPE_TO_PB
from mmtasks.connector.errors import error_for
from mmtasks.connector.models import (
    AccountView,
    CancelRequest,
    CancelResult,
    KlineView,
    OrderRequest,
    OrderView,
    PlaceResult,
    PositionView,
    PriceView,
    SymbolInfoView,
    TradeView,
    account_from_pb,
    kline_from_pb,
    order_from_pb,
    position_from_pb,
    price_from_pb,
    symbol_info_from_pb,
    trade_from_pb,
)
from mmtasks.decimals import canon
from mmtasks.domain import Side
from mmtasks.errors import ValidationError
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc
from mmtasks.pb.mm.v1 import sim_control_pb2 as pbc
from mmtasks.pb.mm.v1 import sim_control_pb2_grpc as pbc_grpc
from mmtasks.sim.models import OrderType, TimeInForce

Number = Decimal | str | int


def _wire_decimal(value: Number, field: str) -> str:
    # Floats are refused here too: a float price is a bug, never a rounding question.
    if isinstance(value, Decimal):
        return canon(value)
    if isinstance(value, int | str) and not isinstance(value, bool):
        return str(value)
    raise ValidationError(f"{field} must be a Decimal or a decimal string, received {value!r}")


def _choice(table: Mapping[Any, Any], enum: Any, value: object, field: str) -> Any:
    try:
        return table[enum(str(value).upper())]
    except ValueError:
        names = " or ".join(str(m) for m in table)
        raise ValidationError(f"{field} must be {names}, received {value!r}") from None


def place_request(o: OrderRequest) -> pb.PlaceOrderRequest:
    """Return the wire request of an order."""
    order_type = _choice(TYPE_TO_PB, OrderType, o.order_type, "order_type")
    market = order_type == pb.ORDER_TYPE_MARKET
    return pb.PlaceOrderRequest(
        symbol=o.symbol,
        side=_choice(SIDE_TO_PB, Side, o.side, "side"),
        type=order_type,
        time_in_force=_choice(TIF_TO_PB, TimeInForce, o.tif, "tif"),
        price="" if market else _wire_decimal(o.price, "price"),
        quantity=_wire_decimal(o.quantity, "quantity"),
        client_order_id=o.client_order_id,
        post_only=o.post_only,
        reduce_only=o.reduce_only,
    )


def make_channel(addr: str, tls_ca: Path | None = None) -> grpc.Channel:
    """Return a channel to addr, TLS-verified against tls_ca when given."""
    options = [("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 10_000)]
    if tls_ca is not None:
        credentials = grpc.ssl_channel_credentials(root_certificates=tls_ca.read_bytes())
        return grpc.secure_channel(addr, credentials, options=options)
    return grpc.insecure_channel(addr, options=options)


class _Client:
    """Channel handling shared by the clients: lazy, per process, with the token attached."""

    _stub_class: Any = None

    def __init__(
        self,
        addr: str,
        token: str | None = None,
        timeout_s: float = 5.0,
        tls_ca: Path | None = None,
    ) -> None:
        self.addr = addr
        self.timeout_s = timeout_s
        self._tls_ca = tls_ca
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._pid = 0
        self._channel: grpc.Channel | None = None
        self._stub_obj: Any = None

    @property
    def _stub(self) -> Any:
        # A gRPC channel does not survive fork(): a Celery prefork child that inherited a client
        # from its parent opens its own channel on first use instead of hanging on the old one.
        if self._pid != os.getpid():
            self._channel = make_channel(self.addr, self._tls_ca)
            self._stub_obj = self._stub_class(self._channel)
            self._pid = os.getpid()
        return self._stub_obj

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(
                request, timeout=self.timeout_s, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            call = cast(grpc.Call, exc)
            raise error_for(call.code(), call.details() or "", method) from exc

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Block until the channel is connected or raise TimeoutError."""
        try:
            self._stub  # noqa: B018 - opens the channel of this process
            grpc.channel_ready_future(self._channel).result(timeout=timeout_s or self.timeout_s)
        except grpc.FutureTimeoutError:
            raise TimeoutError(f"connector at {self.addr} not reachable") from None

    def close(self) -> None:
        """Close the channel (a later call opens a new one)."""
        if self._channel is not None and self._pid == os.getpid():
            self._channel.close()
        self._channel = None
        self._pid = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ExchangeClient(_Client):
    """Sync client of ExchangeService returning frozen views with Decimal fields."""

    _stub_class = pb_grpc.ExchangeServiceStub

    def place_order(
        self,
        symbol: str,
        side: Side | str,
        price: Number,
        quantity: Number,
        client_order_id: str,
        *,
        post_only: bool = False,
        reduce_only: bool = False,
        tif: str = "GTC",
        order_type: str = "LIMIT",
    ) -> tuple[OrderView, bool]:
        """Place an order; return (order, duplicate). A REJECTED order is returned, not raised."""
        request = place_request(
            OrderRequest(
                symbol,
                side,
                price,
                quantity,
                client_order_id,
                post_only,
                reduce_only,
                tif,
                order_type,
            )
        )
        response = self._call("PlaceOrder", request)
        return order_from_pb(response.order), response.duplicate

    def batch_place(self, orders: Sequence[OrderRequest]) -> list[PlaceResult]:
        """Place many orders in one call; each result holds its order or its error."""
        request = pb.BatchPlaceOrdersRequest(orders=[place_request(o) for o in orders])
        response = self._call("BatchPlaceOrders", request)
        return [
            PlaceResult(
                None, error=error_for(grpc.StatusCode[r.error.code], r.error.message, "PlaceOrder")
            )
            if r.HasField("error")
            else PlaceResult(order_from_pb(r.order), r.duplicate)
            for r in response.results
        ]

    def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderView:
        """Cancel an open order; OrderNotFoundError when unknown or already finished."""
        request = pb.CancelOrderRequest(
            symbol=symbol, order_id=order_id or "", client_order_id=client_order_id or ""
        )
        return order_from_pb(self._call("CancelOrder", request).order)

    def batch_cancel(self, cancels: Sequence[CancelRequest]) -> list[CancelResult]:
        """Cancel many orders in one call; each result holds its order or its error."""
        request = pb.BatchCancelOrdersRequest(
            orders=[
                pb.CancelOrderRequest(
                    symbol=c.symbol, order_id=c.order_id, client_order_id=c.client_order_id
                )
                for c in cancels
            ]
        )
        response = self._call("BatchCancelOrders", request)
        return [
            CancelResult(
                None, error_for(grpc.StatusCode[r.error.code], r.error.message, "CancelOrder")
            )
            if r.HasField("error")
            else CancelResult(order_from_pb(r.order))
            for r in response.results
        ]

    def cancel_all(self, symbol: str, client_order_id_prefix: str = "") -> list[OrderView]:
        """Cancel the open orders of a symbol whose client id starts with the prefix."""
        request = pb.CancelAllOrdersRequest(
            symbol=symbol, client_order_id_prefix=client_order_id_prefix
        )
        return [order_from_pb(o) for o in self._call("CancelAllOrders", request).orders]

    def get_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderView | None:
        """Return an order in any status, None when the exchange does not know it."""
        request = pb.GetOrderRequest(
            symbol=symbol, order_id=order_id or "", client_order_id=client_order_id or ""
        )
        try:
            response = self._stub.GetOrder(request, timeout=self.timeout_s, metadata=self._metadata)
        except grpc.RpcError as exc:
            call = cast(grpc.Call, exc)
            if call.code() is grpc.StatusCode.NOT_FOUND:
                return None
            raise error_for(call.code(), call.details() or "", "GetOrder") from exc
        return order_from_pb(response.order)

    def open_orders(self, symbol: str = "") -> list[OrderView]:
        """Return the open orders of a symbol, or of every symbol when symbol is ''."""
        response = self._call("GetOpenOrders", pb.GetOpenOrdersRequest(symbol=symbol))
        return [order_from_pb(o) for o in response.orders]

    def positions(self, symbol: str = "") -> list[PositionView]:
        """Return the positions of a symbol, or of every symbol when symbol is ''."""
        response = self._call("GetPositions", pb.GetPositionsRequest(symbol=symbol))
        return [position_from_pb(p) for p in response.positions]

    def account(self) -> AccountView:
        """Return balances and PnL totals."""
        return account_from_pb(self._call("GetAccount", pb.GetAccountRequest()))

    def symbol_info(self, symbol: str) -> SymbolInfoView:
        """Return the trading rules of a symbol."""
        response = self._call("GetSymbolInfo", pb.GetSymbolInfoRequest(symbol=symbol))
        return symbol_info_from_pb(response.info)

    def latest_price(self, symbol: str) -> PriceView:
        """Return the last price tick of a symbol."""
        response = self._call("GetLatestPrice", pb.GetLatestPriceRequest(symbol=symbol))
        return price_from_pb(response.tick)

    def klines(
        self, symbol: str, interval: str = "1m", limit: int = 100, end_ms: int = 0
    ) -> list[KlineView]:
        """Return the newest closed candles, oldest first."""
        request = pb.GetHistoricalKlinesRequest(
            symbol=symbol, interval=interval, limit=limit, end_ms=end_ms
        )
        return [kline_from_pb(k) for k in self._call("GetHistoricalKlines", request).klines]

    def trades(self, symbol: str = "", since_ms: int = 0, limit: int = 0) -> list[TradeView]:
        """Return trades at or after since_ms, oldest first (limit 0: the server's 1000)."""
        request = pb.GetTradesRequest(symbol=symbol, since_ms=since_ms, limit=limit)
        return [trade_from_pb(t) for t in self._call("GetTrades", request).trades]


class SimControlClient(_Client):
    """Sync client of SimControl: steer the simulated exchange from tests and tools."""

    _stub_class = pbc_grpc.SimControlStub

    def inject_price(self, symbol: str, price: Number, volume: Number = "") -> PriceView:
        """Trade the market at a price now; return the tick."""
        request = pbc.InjectPriceRequest(
            symbol=symbol,
            price=_wire_decimal(price, "price"),
            volume=_wire_decimal(volume, "volume") if volume != "" else "",
        )
        return price_from_pb(self._call("InjectPrice", request).tick)

    def fill_order(
        self,
        symbol: str,
        order_id: str | None = None,
        client_order_id: str | None = None,
        quantity: Number = "",
    ) -> OrderView:
        """Fill an open order from the exchange side ('' quantity: the remainder)."""
        request = pbc.FillOrderRequest(
            symbol=symbol,
            order_id=order_id or "",
            client_order_id=client_order_id or "",
            quantity=_wire_decimal(quantity, "quantity") if quantity != "" else "",
        )
        return order_from_pb(self._call("FillOrder", request).order)

    def exchange_cancel(
        self, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderView:
        """Cancel an open order from the exchange side."""
        request = pbc.ExchangeCancelRequest(
            symbol=symbol, order_id=order_id or "", client_order_id=client_order_id or ""
        )
        return order_from_pb(self._call("ExchangeCancel", request).order)

    def fail_next_calls(self, count: int, code: str = "UNAVAILABLE", method: str = "") -> None:
        """Fail the next `count` ExchangeService calls (of `method` when given) with code."""
        self._call("FailNextCalls", pbc.FailNextCallsRequest(count=count, code=code, method=method))

    def drop_streams(self) -> int:
        """End every open stream with UNAVAILABLE; return how many."""
        return int(self._call("DropStreams", pbc.DropStreamsRequest()).dropped)

    def set_feed(self, paused: bool, interval_ms: int = 0) -> None:
        """Pause or resume the price feed; a non-zero interval_ms retimes it."""
        self._call("SetFeed", pbc.SetFeedRequest(paused=paused, interval_ms=interval_ms))

    def set_latency(self, ms: int) -> None:
        """Add ms of latency to every ExchangeService call."""
        self._call("SetLatency", pbc.SetLatencyRequest(latency_ms=ms))

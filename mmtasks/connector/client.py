"""Sync gRPC clients of the connector, for Celery workers and tests.

Every call has a deadline and every failure becomes an mmtasks error in one place
(`mmtasks.connector.errors.error_for`): INVALID_ARGUMENT -> ValidationError, NOT_FOUND (and
FAILED_PRECONDITION on a cancel) -> OrderNotFoundError, UNAVAILABLE / RESOURCE_EXHAUSTED ->
TemporaryError, DEADLINE_EXCEEDED -> AmbiguousOutcomeError. A REJECTED order is returned, not
raised: the caller records it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

import grpc

from mmtasks.connector.errors import error_for
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc
from mmtasks.venue import codec
from mmtasks.venue import types as vt
from mmtasks.venue.port import Listener, Venue

log = logging.getLogger(__name__)


def make_channel(addr: str, tls_ca: Path | None = None) -> grpc.Channel:
    """Return a channel to addr, TLS-verified against tls_ca when given."""
    options = [("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 10_000)]
    if tls_ca is not None:
        credentials = grpc.ssl_channel_credentials(root_certificates=tls_ca.read_bytes())
        return grpc.secure_channel(addr, credentials, options=options)
    return grpc.insecure_channel(addr, options=options)


class ChannelClient:
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
        self._lock = threading.Lock()
        # The streams open on the channel, by what they call; close cancels them.
        self._streams: dict[tuple[vt.Stream, Listener], grpc.Future] = {}
        self._streams_lock = threading.Lock()

    @property
    def _stub(self) -> Any:
        # A gRPC channel does not survive fork(): a Celery prefork child that inherited a client
        # from its parent opens its own channel on first use instead of hanging on the old one.
        # Opened under a lock: threads racing here would each open one, and the dropped
        # channel closes under the thread still calling on it.
        if self._pid != os.getpid():
            with self._lock:
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
        """Cancel every stream and close the channel (a later call opens a new one)."""
        with self._streams_lock:
            calls = list(self._streams.values())
            self._streams.clear()
        for call in calls:
            call.cancel()
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


def _optional(value: str | None) -> str:
    return value or ""


class ExchangeClient(ChannelClient, Venue):
    """The `Venue` of a connector, over gRPC: venue types with Decimal fields both ways."""

    _stub_class = pb_grpc.ExchangeServiceStub

    def place(self, request: vt.OrderRequest) -> tuple[vt.Order, bool]:
        """Place one validated order; return (order, duplicate). A REJECTED order is returned."""
        response = self._call("PlaceOrder", codec.request_to_pb(request))
        return codec.order_from_pb(response.order), response.duplicate

    def batch_place(self, orders: Sequence[vt.OrderRequest]) -> list[vt.PlaceResult]:
        """Place many orders in one call; each result holds its order or its error."""
        request = pb.BatchPlaceOrdersRequest(orders=[codec.request_to_pb(o) for o in orders])
        response = self._call("BatchPlaceOrders", request)
        return [
            vt.PlaceResult(
                None, error=error_for(grpc.StatusCode[r.error.code], r.error.message, "PlaceOrder")
            )
            if r.HasField("error")
            else vt.PlaceResult(codec.order_from_pb(r.order), r.duplicate)
            for r in response.results
        ]

    def cancel_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> vt.Order:
        """Cancel an open order; OrderNotFoundError when unknown or already finished."""
        request = pb.CancelOrderRequest(
            symbol=symbol, order_id=_optional(order_id), client_order_id=_optional(client_order_id)
        )
        return codec.order_from_pb(self._call("CancelOrder", request).order)

    def batch_cancel(self, cancels: Sequence[vt.CancelRequest]) -> list[vt.CancelResult]:
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
            vt.CancelResult(
                None, error_for(grpc.StatusCode[r.error.code], r.error.message, "CancelOrder")
            )
            if r.HasField("error")
            else vt.CancelResult(codec.order_from_pb(r.order))
            for r in response.results
        ]

    def cancel_all(self, symbol: str, client_order_id_prefix: str = "") -> list[vt.Order]:
        """Cancel the open orders of a symbol whose client id starts with the prefix."""
        request = pb.CancelAllOrdersRequest(
            symbol=symbol, client_order_id_prefix=client_order_id_prefix
        )
        return [codec.order_from_pb(o) for o in self._call("CancelAllOrders", request).orders]

    def get_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> vt.Order | None:
        """Return an order in any status, None when the exchange does not know it."""
        request = pb.GetOrderRequest(
            symbol=symbol, order_id=_optional(order_id), client_order_id=_optional(client_order_id)
        )
        try:
            response = self._stub.GetOrder(request, timeout=self.timeout_s, metadata=self._metadata)
        except grpc.RpcError as exc:
            call = cast(grpc.Call, exc)
            if call.code() is grpc.StatusCode.NOT_FOUND:
                return None
            raise error_for(call.code(), call.details() or "", "GetOrder") from exc
        return codec.order_from_pb(response.order)

    def open_orders(self, symbol: str = "") -> list[vt.Order]:
        """Return the open orders of a symbol, or of every symbol when symbol is ''."""
        response = self._call("GetOpenOrders", pb.GetOpenOrdersRequest(symbol=symbol))
        return [codec.order_from_pb(o) for o in response.orders]

    def positions(self, symbol: str = "") -> list[vt.Position]:
        """Return the positions of a symbol, or of every symbol when symbol is ''."""
        response = self._call("GetPositions", pb.GetPositionsRequest(symbol=symbol))
        return [codec.position_from_pb(p) for p in response.positions]

    def account(self) -> vt.Account:
        """Return balances and PnL totals."""
        return codec.account_from_pb(self._call("GetAccount", pb.GetAccountRequest()))

    def symbol_info(self, symbol: str) -> vt.SymbolRules:
        """Return the trading rules of a symbol."""
        response = self._call("GetSymbolInfo", pb.GetSymbolInfoRequest(symbol=symbol))
        return codec.rules_from_pb(response.info)

    def latest_price(self, symbol: str) -> vt.PriceTick:
        """Return the last price tick of a symbol."""
        response = self._call("GetLatestPrice", pb.GetLatestPriceRequest(symbol=symbol))
        return codec.tick_from_pb(response.tick)

    def klines(
        self, symbol: str, interval: str = "1m", limit: int = 100, end_ms: int = 0
    ) -> list[vt.Kline]:
        """Return the newest closed candles, oldest first."""
        request = pb.GetHistoricalKlinesRequest(
            symbol=symbol, interval=interval, limit=limit, end_ms=end_ms
        )
        return [codec.kline_from_pb(k) for k in self._call("GetHistoricalKlines", request).klines]

    def trades(self, symbol: str = "", since_ms: int = 0, limit: int = 0) -> list[vt.Trade]:
        """Return trades at or after since_ms, oldest first (limit 0: the server's 1000)."""
        request = pb.GetTradesRequest(symbol=symbol, since_ms=since_ms, limit=limit)
        return [codec.trade_from_pb(t) for t in self._call("GetTrades", request).trades]

    # -- streams: one reader thread per subscription ------------------------------------------
    # For tools and tests; the bridge reads the same streams with grpc.aio and validates each
    # message itself. A stream that ends (connector gone, too slow) is logged and not reopened.

    def listen(
        self, stream: vt.Stream, listener: Listener, symbols: Collection[str], interval: str
    ) -> None:
        """Call listener with every event of a stream, from a reader thread."""
        call: Any
        decode: Callable[[Any], Any]
        if stream == "price":
            call = self._stub.SubscribePrice(
                pb.SubscribePriceRequest(symbols=list(symbols)), metadata=self._metadata
            )
            decode = codec.tick_from_pb
        elif stream == "order":
            call = self._stub.SubscribeOrders(pb.SubscribeOrdersRequest(), metadata=self._metadata)
            wanted = frozenset(symbols)

            def decode(m: Any) -> Any:
                update = codec.update_from_pb(m)
                return update if not wanted or update.order.symbol in wanted else None

        else:
            call = self._stub.SubscribeKlines(
                pb.SubscribeKlinesRequest(symbols=list(symbols), interval=interval),
                metadata=self._metadata,
            )
            decode = codec.kline_from_pb
        self._opened(call, stream)
        with self._streams_lock:
            self._streams[(stream, listener)] = call
        threading.Thread(
            target=_read, args=(call, decode, listener, stream), name=f"venue-{stream}", daemon=True
        ).start()

    def _opened(self, call: Any, stream: str) -> None:
        # Wait for the headers: from then on the subscription is registered and misses nothing.
        try:
            call.initial_metadata()
            if call.done() and call.code() is not grpc.StatusCode.OK:
                raise error_for(call.code(), call.details() or "", f"Subscribe {stream}")
        except grpc.RpcError as exc:
            failed = cast(grpc.Call, exc)
            raise error_for(failed.code(), failed.details() or "", f"Subscribe {stream}") from exc

    def unsubscribe(self, stream: vt.Stream, listener: Listener) -> None:
        """Stop calling a listener given to subscribe (its stream is cancelled)."""
        with self._streams_lock:
            call = self._streams.pop((stream, listener), None)
        if call is not None:
            call.cancel()


def _read(
    call: Iterator[Any], decode: Callable[[Any], Any], listener: Listener, stream: str
) -> None:
    try:
        for message in call:
            event = decode(message)
            if event is not None:
                listener(event)
    except grpc.RpcError as exc:
        ended = cast(grpc.Call, exc)
        if ended.code() is not grpc.StatusCode.CANCELLED:
            log.warning("%s stream ended: %s %s", stream, ended.code().name, ended.details())

"""ExchangeService over any Venue (grpc.aio): validate the request, call the venue, encode."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import grpc

from mmtasks.connector import requests as rq
from mmtasks.connector.errors import status_for
from mmtasks.connector.hub import PRICE_QUEUE, StreamHub, Subscriber
from mmtasks.connector.sending import Sending
from mmtasks.errors import OrderNotFoundError, ValidationError
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc
from mmtasks.venue.codec import (
    account_to_pb,
    kline_to_pb,
    order_to_pb,
    position_to_pb,
    request_from_pb,
    rules_to_pb,
    tick_to_pb,
    trade_to_pb,
)
from mmtasks.venue.port import Venue
from mmtasks.venue.types import CancelRequest, Order, OrderRequest, Stream

log = logging.getLogger(__name__)

T = TypeVar("T")
VENUE_THREADS = 32  # concurrent calls to a blocking venue (its own rate budget paces them)


async def answer(
    context: grpc.aio.ServicerContext,
    method: str,
    fn: Callable[[], T],
    executor: ThreadPoolExecutor | None = None,
) -> T:
    """Run fn and return its result, or abort the call with the status its error maps to.

    executor: where fn runs when the venue blocks on the network (a real exchange); None runs
    it here, on the event loop (the simulator answers in microseconds).
    """
    try:
        if executor is None:
            return fn()
        return await asyncio.get_running_loop().run_in_executor(executor, fn)
    except Exception as exc:
        code, message = status_for(exc)
        if code is grpc.StatusCode.INTERNAL:
            log.exception("%s failed", method)
        await context.abort(code, message)
        raise  # unreachable: abort raises; keeps type checkers sure fn's result is returned


class Answering(Protocol):
    """A servicer that runs the bodies of its RPCs by `answer`, where its calls belong."""

    async def answer(
        self, context: grpc.aio.ServicerContext, method: str, fn: Callable[[], T]
    ) -> T: ...


S = TypeVar("S", bound=Answering)


def rpc(
    body: Callable[[S, Any], Any],
) -> Callable[[S, Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    """Return the unary RPC that answers body(servicer, request), or aborts with the status its
    error maps to; the method name in logs is the body's."""

    @functools.wraps(body)
    async def call(self: S, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self.answer(context, body.__name__, lambda: body(self, request))

    return call


# A Subscribe* RPC as grpc.aio calls it, and what `stream` makes one of: its subscriber.
StreamRpc = Callable[["ExchangeServicer", Any, grpc.aio.ServicerContext], AsyncIterator[Any]]
SubscriberOf = Callable[["ExchangeServicer", Any], Subscriber]


def stream(kind: Stream) -> Callable[[SubscriberOf], StreamRpc]:
    """Return a decorator making a server-streaming RPC of subscriber(servicer, request): the
    RPC subscribes it to the hub's `kind` stream and yields every message it is given."""

    def decorate(subscriber: SubscriberOf) -> StreamRpc:
        method = subscriber.__name__

        @functools.wraps(subscriber)
        async def call(
            self: ExchangeServicer, request: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            make = functools.partial(subscriber, self, request)
            async with self._subscribed(context, method, kind, make, request) as sub:
                while batch := await sub.take():
                    for message in batch:
                        yield message

        return call

    return decorate


def error_pb(exc: Exception) -> pb.Error:
    """Return the per-item Error of a batch for an exception."""
    code, message = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("batch item failed", exc_info=exc)
    return pb.Error(code=code.name, message=message)


def _raise_error(error: Exception | None) -> None:
    if error is not None:
        raise error


class ExchangeServicer(pb_grpc.ExchangeServiceServicer):  # type: ignore[misc, unused-ignore]  # untyped base
    """Every ExchangeService RPC over one Venue."""

    def __init__(self, venue: Venue, hub: StreamHub) -> None:
        self.venue = venue
        self.hub = hub
        self.sending = Sending()  # creates under way: "not found" is not final for them
        # A venue that waits on the network (`blocking`) is called from a pool of threads, so
        # one slow answer never holds the other calls and the streams of this event loop.
        self._executor = (
            ThreadPoolExecutor(VENUE_THREADS, thread_name_prefix="venue")
            if getattr(venue, "blocking", False)
            else None
        )

    async def answer(
        self, context: grpc.aio.ServicerContext, method: str, fn: Callable[[], T]
    ) -> T:
        """Run fn on the venue's side (see `answer`)."""
        return await answer(context, method, fn, self._executor)

    @rpc
    def PlaceOrder(self, request: Any) -> Any:
        """Place one order; a known client order id answers the existing order."""
        [result] = self.sending.place(self.venue, [request_from_pb(request)])
        _raise_error(result.error)
        assert result.order is not None  # a result without error holds its order
        return pb.PlaceOrderResponse(order=order_to_pb(result.order), duplicate=result.duplicate)

    @rpc
    def BatchPlaceOrders(self, request: Any) -> Any:
        """Place many orders; each item succeeds or carries its own error."""
        rq.batch_size(len(request.orders))
        results: list[Any] = [None] * len(request.orders)
        valid: list[tuple[int, OrderRequest]] = []
        for i, item in enumerate(request.orders):
            try:
                valid.append((i, request_from_pb(item)))
            except Exception as exc:
                results[i] = pb.PlaceOrderResult(error=error_pb(exc))
        placed = self.sending.place(self.venue, [r for _, r in valid])
        for (i, _), result in zip(valid, placed, strict=True):
            results[i] = (
                pb.PlaceOrderResult(order=order_to_pb(result.order), duplicate=result.duplicate)
                if result.order is not None and result.error is None
                else pb.PlaceOrderResult(error=error_pb(result.error or RuntimeError("no order")))
            )
        return pb.BatchPlaceOrdersResponse(results=results)

    def _cancel(self, request: Any) -> Order:
        symbol = rq.require_symbol(request.symbol)
        rq.require_order_ref(request.order_id, request.client_order_id)
        [result] = self.venue.batch_cancel(
            [CancelRequest(symbol, request.order_id, request.client_order_id)]
        )
        _raise_error(result.error)
        assert result.order is not None  # a result without error holds its order
        return result.order

    @rpc
    def CancelOrder(self, request: Any) -> Any:
        """Cancel one open order."""
        return pb.CancelOrderResponse(order=order_to_pb(self._cancel(request)))

    @rpc
    def BatchCancelOrders(self, request: Any) -> Any:
        """Cancel many orders; each item succeeds or carries its own error."""
        rq.batch_size(len(request.orders))
        results = []
        for item in request.orders:
            try:
                results.append(pb.CancelOrderResult(order=order_to_pb(self._cancel(item))))
            except Exception as exc:
                results.append(pb.CancelOrderResult(error=error_pb(exc)))
        return pb.BatchCancelOrdersResponse(results=results)

    @rpc
    def CancelAllOrders(self, request: Any) -> Any:
        """Cancel the open orders of a symbol, optionally only those with a client id prefix."""
        symbol = rq.require_symbol(request.symbol)
        orders = self.venue.cancel_all(symbol, request.client_order_id_prefix)
        return pb.CancelAllOrdersResponse(orders=[order_to_pb(o) for o in orders])

    @rpc
    def GetOrder(self, request: Any) -> Any:
        """Return an order in any status."""
        symbol = rq.require_symbol(request.symbol)
        rq.require_order_ref(request.order_id, request.client_order_id)
        # Asked before the venue: a create that lands during the lookup is let go meanwhile.
        held = bool(request.client_order_id) and self.sending.holds(request.client_order_id)
        order = self.venue.get_order(
            symbol, order_id=request.order_id, client_order_id=request.client_order_id
        )
        if order is None:
            self.sending.check_unknown(request.client_order_id, held)  # under way: ask again
            key = (
                f"order_id {request.order_id!r}"
                if request.order_id
                else f"client_order_id {request.client_order_id!r}"
            )
            raise OrderNotFoundError(f"order with {key} not found for {symbol}")
        return pb.GetOrderResponse(order=order_to_pb(order))

    @rpc
    def GetOpenOrders(self, request: Any) -> Any:
        """Return the open orders of a symbol or of every symbol."""
        orders = self.venue.open_orders(rq.optional_symbol(request.symbol))
        return pb.GetOpenOrdersResponse(orders=[order_to_pb(o) for o in orders])

    @rpc
    def GetPositions(self, request: Any) -> Any:
        """Return the positions of a symbol or of every symbol."""
        positions = self.venue.positions(rq.optional_symbol(request.symbol))
        return pb.GetPositionsResponse(positions=[position_to_pb(p) for p in positions])

    @rpc
    def GetAccount(self, request: Any) -> Any:
        """Return balances and PnL totals."""
        return account_to_pb(self.venue.account())

    @rpc
    def GetSymbolInfo(self, request: Any) -> Any:
        """Return the trading rules of a symbol."""
        rules = self.venue.symbol_info(rq.require_symbol(request.symbol))
        return pb.GetSymbolInfoResponse(info=rules_to_pb(rules))

    @rpc
    def GetLatestPrice(self, request: Any) -> Any:
        """Return the last price tick of a symbol."""
        tick = self.venue.latest_price(rq.require_symbol(request.symbol))
        return pb.GetLatestPriceResponse(tick=tick_to_pb(tick))

    @rpc
    def GetHistoricalKlines(self, request: Any) -> Any:
        """Return the newest closed candles, oldest first."""
        symbol = rq.require_symbol(request.symbol)
        limit = rq.kline_limit(request.limit)
        if request.end_ms < 0:
            raise ValidationError(f"end_ms must be >= 0 (0: now), received {request.end_ms}")
        klines = self.venue.klines(symbol, request.interval or "1m", limit, request.end_ms)
        return pb.GetHistoricalKlinesResponse(klines=[kline_to_pb(k) for k in klines])

    @rpc
    def GetTrades(self, request: Any) -> Any:
        """Return trades at or after since_ms, oldest first."""
        symbol = rq.optional_symbol(request.symbol)
        if request.since_ms < 0:
            raise ValidationError(f"since_ms must be >= 0, received {request.since_ms}")
        trades = self.venue.trades(symbol, request.since_ms, rq.trades_limit(request.limit))
        return pb.GetTradesResponse(trades=[trade_to_pb(t) for t in trades])

    # -- streams -----------------------------------------------------------------------------
    # Each Subscribe* says which stream and which subscriber; `stream` writes the drain loop
    # once, as the async generator function grpc.aio calls (no second generator in between,
    # so no hop per message). SubscribePriceBatches yields batches, so it keeps its own loop.

    def _symbols(self, symbols: Any) -> list[str]:
        return [self.venue.symbol_info(rq.require_symbol(s, "symbols")).symbol for s in symbols]

    def _price_subscriber(self, request: Any) -> Subscriber:
        symbols = self._symbols(request.symbols)
        return Subscriber(asyncio.get_running_loop(), symbols=symbols, drop_oldest=PRICE_QUEUE)

    @stream("price")
    def SubscribePrice(self, request: Any) -> Subscriber:
        """Stream price ticks (the last known ones first), oldest dropped for a slow reader."""
        return self._price_subscriber(request)

    async def SubscribePriceBatches(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        """Stream the ticks of SubscribePrice, as many per message as are ready, in seq order."""
        make = functools.partial(self._price_subscriber, request)
        async with self._subscribed(
            context, "SubscribePriceBatches", "price", make, request
        ) as sub:
            # The queue is in the venue's order, so every symbol's ticks stay in seq order.
            while batch := await sub.take():
                yield pb.PriceTicks(ticks=batch)

    @stream("order")
    def SubscribeOrders(self, request: Any) -> Subscriber:
        """Stream every order update, none ever dropped."""
        return Subscriber(asyncio.get_running_loop())

    @stream("kline")
    def SubscribeKlines(self, request: Any) -> Subscriber:
        """Stream candles of one interval: forming updates and each closed candle."""
        symbols = self._symbols(request.symbols)
        interval = request.interval or "1m"
        return Subscriber(asyncio.get_running_loop(), symbols=symbols, interval=interval)

    @contextlib.asynccontextmanager
    async def _subscribed(
        self,
        context: grpc.aio.ServicerContext,
        method: str,
        kind: Stream,
        make: Callable[[], Subscriber],
        request: Any,
    ) -> AsyncIterator[Subscriber]:
        """Subscribe to the hub for the stream's life; when the hub ends it, abort saying why."""
        if getattr(request, "symbols", None):  # the venue's first look may go to the network:
            await self.answer(context, method, lambda: self._symbols(request.symbols))  # off loop
        sub = await answer(context, method, make)  # on this loop: the queue belongs to it
        try:
            # A client that leaves now cancels this wait, not the venue thread's subscribe: the
            # unsubscribe below then tells the hub, which lets go of sub whenever that ends.
            await self.answer(context, method, lambda: self.hub.subscribe(kind, sub))
            # Headers now, not with the first message: they tell the client the stream is open
            # (subscribed, so nothing from here on is missed) even when nothing happens a while.
            await context.send_initial_metadata(())
            yield sub
        finally:
            self.hub.unsubscribe(kind, sub)
        # An empty batch means the hub ended the stream (drop, shutdown, too slow): say why.
        if sub.end is not None:
            await context.abort(*sub.end)

"""ExchangeService over any Venue (grpc.aio): validate the request, call the venue, encode."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc

from mmtasks.connector import requests as rq
from mmtasks.connector.errors import status_for
from mmtasks.connector.hub import PRICE_QUEUE, StreamHub, Subscriber
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

    def _place(self, request: Any) -> tuple[Order, bool]:
        [result] = self.venue.batch_place([request_from_pb(request)])
        _raise_error(result.error)
        assert result.order is not None  # a result without error holds its order
        return result.order, result.duplicate

    async def PlaceOrder(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Place one order; a known client order id answers the existing order."""
        order, duplicate = await self.answer(context, "PlaceOrder", lambda: self._place(request))
        return pb.PlaceOrderResponse(order=order_to_pb(order), duplicate=duplicate)

    async def BatchPlaceOrders(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Place many orders; each item succeeds or carries its own error."""
        await self.answer(context, "BatchPlaceOrders", lambda: rq.batch_size(len(request.orders)))
        results: list[Any] = [None] * len(request.orders)
        valid: list[tuple[int, OrderRequest]] = []
        for i, item in enumerate(request.orders):
            try:
                valid.append((i, request_from_pb(item)))
            except Exception as exc:
                results[i] = pb.PlaceOrderResult(error=error_pb(exc))
        placed = await self.answer(
            context, "BatchPlaceOrders", lambda: self.venue.batch_place([r for _, r in valid])
        )
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

    async def CancelOrder(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Cancel one open order."""
        order = await self.answer(context, "CancelOrder", lambda: self._cancel(request))
        return pb.CancelOrderResponse(order=order_to_pb(order))

    async def BatchCancelOrders(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Cancel many orders; each item succeeds or carries its own error."""
        await self.answer(context, "BatchCancelOrders", lambda: rq.batch_size(len(request.orders)))
        results = []
        for item in request.orders:
            try:
                results.append(pb.CancelOrderResult(order=order_to_pb(self._cancel(item))))
            except Exception as exc:
                results.append(pb.CancelOrderResult(error=error_pb(exc)))
        return pb.BatchCancelOrdersResponse(results=results)

    async def CancelAllOrders(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Cancel the open orders of a symbol, optionally only those with a client id prefix."""
        orders = await self.answer(
            context,
            "CancelAllOrders",
            lambda: self.venue.cancel_all(
                rq.require_symbol(request.symbol), request.client_order_id_prefix
            ),
        )
        return pb.CancelAllOrdersResponse(orders=[order_to_pb(o) for o in orders])

    def _get_order(self, request: Any) -> Order:
        symbol = rq.require_symbol(request.symbol)
        rq.require_order_ref(request.order_id, request.client_order_id)
        order = self.venue.get_order(
            symbol, order_id=request.order_id, client_order_id=request.client_order_id
        )
        if order is None:
            key = (
                f"order_id {request.order_id!r}"
                if request.order_id
                else f"client_order_id {request.client_order_id!r}"
            )
            raise OrderNotFoundError(f"order with {key} not found for {symbol}")
        return order

    async def GetOrder(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return an order in any status."""
        order = await self.answer(context, "GetOrder", lambda: self._get_order(request))
        return pb.GetOrderResponse(order=order_to_pb(order))

    async def GetOpenOrders(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return the open orders of a symbol or of every symbol."""
        orders = await self.answer(
            context,
            "GetOpenOrders",
            lambda: self.venue.open_orders(rq.optional_symbol(request.symbol)),
        )
        return pb.GetOpenOrdersResponse(orders=[order_to_pb(o) for o in orders])

    async def GetPositions(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return the positions of a symbol or of every symbol."""
        positions = await self.answer(
            context,
            "GetPositions",
            lambda: self.venue.positions(rq.optional_symbol(request.symbol)),
        )
        return pb.GetPositionsResponse(positions=[position_to_pb(p) for p in positions])

    async def GetAccount(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return balances and PnL totals."""
        return account_to_pb(await self.answer(context, "GetAccount", self.venue.account))

    async def GetSymbolInfo(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return the trading rules of a symbol."""
        rules = await self.answer(
            context,
            "GetSymbolInfo",
            lambda: self.venue.symbol_info(rq.require_symbol(request.symbol)),
        )
        return pb.GetSymbolInfoResponse(info=rules_to_pb(rules))

    async def GetLatestPrice(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return the last price tick of a symbol."""
        tick = await self.answer(
            context,
            "GetLatestPrice",
            lambda: self.venue.latest_price(rq.require_symbol(request.symbol)),
        )
        return pb.GetLatestPriceResponse(tick=tick_to_pb(tick))

    def _klines(self, request: Any) -> Any:
        symbol = rq.require_symbol(request.symbol)
        limit = rq.kline_limit(request.limit)
        if request.end_ms < 0:
            raise ValidationError(f"end_ms must be >= 0 (0: now), received {request.end_ms}")
        return self.venue.klines(symbol, request.interval or "1m", limit, request.end_ms)

    async def GetHistoricalKlines(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return the newest closed candles, oldest first."""
        klines = await self.answer(context, "GetHistoricalKlines", lambda: self._klines(request))
        return pb.GetHistoricalKlinesResponse(klines=[kline_to_pb(k) for k in klines])

    def _trades(self, request: Any) -> Any:
        symbol = rq.optional_symbol(request.symbol)
        if request.since_ms < 0:
            raise ValidationError(f"since_ms must be >= 0, received {request.since_ms}")
        return self.venue.trades(symbol, request.since_ms, rq.trades_limit(request.limit))

    async def GetTrades(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return trades at or after since_ms, oldest first."""
        trades = await self.answer(context, "GetTrades", lambda: self._trades(request))
        return pb.GetTradesResponse(trades=[trade_to_pb(t) for t in trades])

    # -- streams -----------------------------------------------------------------------------
    # The drain loop is written out in each Subscribe*: grpc.aio needs an async generator
    # function there, and delegating to a second generator would cost a hop per message.

    def _symbols(self, symbols: Any) -> list[str]:
        return [self.venue.symbol_info(rq.require_symbol(s, "symbols")).symbol for s in symbols]

    def _price_subscriber(self, request: Any) -> Callable[[], Subscriber]:
        def make() -> Subscriber:
            symbols = self._symbols(request.symbols)
            return Subscriber(asyncio.get_running_loop(), symbols=symbols, drop_oldest=PRICE_QUEUE)

        return make

    async def SubscribePrice(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        """Stream price ticks (the last known ones first), oldest dropped for a slow reader."""
        make = self._price_subscriber(request)
        async with self._subscribed(context, "SubscribePrice", "price", make) as sub:
            while batch := await sub.take():
                for message in batch:
                    yield message

    async def SubscribePriceBatches(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        """Stream the ticks of SubscribePrice, as many per message as are ready, in seq order."""
        make = self._price_subscriber(request)
        async with self._subscribed(context, "SubscribePriceBatches", "price", make) as sub:
            # The queue is in the venue's order, so every symbol's ticks stay in seq order.
            while batch := await sub.take():
                yield pb.PriceTicks(ticks=batch)

    async def SubscribeOrders(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        """Stream every order update, none ever dropped."""

        def subscriber() -> Subscriber:
            return Subscriber(asyncio.get_running_loop())

        async with self._subscribed(context, "SubscribeOrders", "order", subscriber) as sub:
            while batch := await sub.take():
                for message in batch:
                    yield message

    async def SubscribeKlines(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        """Stream candles of one interval: forming updates and each closed candle."""
        interval = request.interval or "1m"

        def subscriber() -> Subscriber:
            symbols = self._symbols(request.symbols)
            return Subscriber(asyncio.get_running_loop(), symbols=symbols, interval=interval)

        async with self._subscribed(context, "SubscribeKlines", "kline", subscriber) as sub:
            while batch := await sub.take():
                for message in batch:
                    yield message

    @contextlib.asynccontextmanager
    async def _subscribed(
        self,
        context: grpc.aio.ServicerContext,
        method: str,
        kind: Stream,
        make: Callable[[], Subscriber],
    ) -> AsyncIterator[Subscriber]:
        """Subscribe to the hub for the stream's life; when the hub ends it, abort saying why."""
        sub = await answer(context, method, make)  # on this loop: the queue belongs to it
        await self.answer(context, method, lambda: self.hub.subscribe(kind, sub))
        # Headers now, not with the first message: they tell the client the stream is open
        # (subscribed, so nothing from here on is missed) even when nothing happens for a while.
        await context.send_initial_metadata(())
        try:
            yield sub
        finally:
            self.hub.unsubscribe(kind, sub)
        # An empty batch means the hub ended the stream (drop, shutdown, too slow): say why.
        if sub.end is not None:
            await context.abort(*sub.end)
